// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IAuditAnchor
/// @notice Authorized gateways anchor the Merkle root of each batch of their hash-chained
/// audit log. Batches of one gateway must be contiguous (firstIndex == the gateway's next
/// index), so a gateway cannot silently skip events. Roots are found by their indexed topic
/// in AuditRootAnchored; the contract stores only each gateway's counters, which keeps an
/// anchor at one warm-able slot update instead of a fresh slot per root.
interface IAuditAnchor {
    event GatewaySet(address indexed gateway, bool authorized);
    event AuditRootAnchored(
        bytes32 indexed root,
        address indexed gateway,
        uint64 firstIndex,
        uint32 count,
        uint32 batch
    );

    error ZeroAddress();
    error NotGateway(address caller);
    error ZeroRoot();
    error EmptyBatch();
    error NonContiguous(uint64 expectedFirstIndex, uint64 firstIndex);
    error RenounceOwnershipDisabled();

    /// @notice Governance only. Authorizing again keeps the gateway's counters.
    function setGateway(address gateway, bool authorized) external;

    /// @notice Gateway only. Anchors `root` covering events [firstIndex, firstIndex + count).
    function anchor(bytes32 root, uint64 firstIndex, uint32 count) external;

    /// @notice A gateway's authorization and counters: next expected event index, batches anchored.
    function gatewayOf(address gateway) external view returns (bool authorized, uint64 nextIndex, uint32 batches);
}
