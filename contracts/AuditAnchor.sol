// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IAuditAnchor} from "./interfaces/IAuditAnchor.sol";

/// @title AuditAnchor
/// @notice Governance-authorized gateways anchor the Merkle root of each contiguous batch of their
/// hash-chained audit log. Roots are not stored: they are found by the indexed `root` topic of
/// AuditRootAnchored. Storing only per-gateway counters keeps an anchor at one non-zero to
/// non-zero update of a single slot (no fresh 20k-gas slot per root).
/// @dev Per gateway, one packed slot: authorized (bool) | nextIndex (uint64) | batches (uint32).
contract AuditAnchor is IAuditAnchor, Ownable2Step {
    struct Gateway {
        bool authorized;
        uint64 nextIndex;
        uint32 batches;
    }

    mapping(address gateway => Gateway) private _gateways;

    /// @notice `governance` becomes the owner; it alone may authorize gateways.
    /// @dev Reverts OwnableInvalidOwner(address(0)) when governance is the zero address.
    constructor(address governance) Ownable(governance) {}

    /// @inheritdoc IAuditAnchor
    /// @dev Reverts ZeroAddress. De-authorizing keeps the counters too, so a gateway that is
    /// authorized again continues at its nextIndex.
    function setGateway(address gateway, bool authorized) external onlyOwner {
        if (gateway == address(0)) revert ZeroAddress();
        _gateways[gateway].authorized = authorized;
        emit GatewaySet(gateway, authorized);
    }

    /// @inheritdoc IAuditAnchor
    /// @dev Reverts NotGateway, ZeroRoot, EmptyBatch, NonContiguous(expected, given). Emits the
    /// zero-based number of this batch. Counters use checked arithmetic (a gateway reaching
    /// 2^64 events or 2^32 batches is stopped, not wrapped).
    function anchor(bytes32 root, uint64 firstIndex, uint32 count) external {
        Gateway memory g = _gateways[msg.sender];
        if (!g.authorized) revert NotGateway(msg.sender);
        if (root == 0) revert ZeroRoot();
        if (count == 0) revert EmptyBatch();
        if (firstIndex != g.nextIndex) revert NonContiguous(g.nextIndex, firstIndex);
        uint32 batch = g.batches;
        _gateways[msg.sender] = Gateway(true, firstIndex + count, batch + 1);
        emit AuditRootAnchored(root, msg.sender, firstIndex, count, batch);
    }

    /// @notice Disabled: without an owner no gateway could be authorized or de-authorized again (a
    /// compromised gateway would keep anchoring). Governance hands over with transferOwnership +
    /// acceptOwnership.
    function renounceOwnership() public pure override {
        revert RenounceOwnershipDisabled();
    }

    /// @inheritdoc IAuditAnchor
    function gatewayOf(address gateway) external view returns (bool authorized, uint64 nextIndex, uint32 batches) {
        Gateway memory g = _gateways[gateway];
        return (g.authorized, g.nextIndex, g.batches);
    }
}
