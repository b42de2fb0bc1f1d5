// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";
import {ITrustRegistry} from "./interfaces/ITrustRegistry.sol";

/// @title StudyRegistry
/// @notice Researchers register studies approved by an IRB that the TrustRegistry accredits at registration;
/// the researcher or that IRB closes them. Off-chain verifiers (gateway, SDK) still check the approval credential
/// itself (signature, status list, protocol hash, the IRB's accreditation at issuance and now): the chain cannot
/// read a JWT, it records what the researcher claimed and refuses an IRB that is not accredited.
/// @dev Two packed slots per study plus one hash: researcher | endsAt | closed, irb | registeredAt, and
/// detailsHash = keccak256(abi.encode(protocolHash, approvalHash, encryptionKey, scopes)). The details themselves
/// are only in the StudyRegistered event (readers check them against detailsHash), which keeps a registration
/// at three fresh slots whatever the number of scopes.
contract StudyRegistry is IStudyRegistry {
    /// @notice The TrustRegistry role an approving IRB must hold (TrustRegistry.IRB).
    bytes32 public constant IRB_ROLE = keccak256("hygeia.role.irb");
    /// @notice Most scopes one study may request.
    uint256 public constant MAX_SCOPES = 32;
    /// @notice Longest a study may run from its registration (ten years): an end date cannot be "never".
    uint64 public constant MAX_DURATION = 3650 days;

    ITrustRegistry public immutable trustRegistry;

    mapping(bytes32 studyId => Study) private _studies;

    /// @dev Reverts ZeroAddress when `trust` is the zero address.
    constructor(ITrustRegistry trust) {
        if (address(trust) == address(0)) revert ZeroAddress();
        trustRegistry = trust;
    }

    /// @inheritdoc IStudyRegistry
    /// @dev Reverts StudyExists (the same researcher and salt again), ZeroHash (protocol or approval), ZeroKey,
    /// InvalidScopes (none, a zero hash, or not strictly ascending), TooManyScopes, EndNotInFuture, EndTooFar,
    /// ZeroAddress (irb), IrbIsResearcher, IrbNotTrusted.
    function register(Registration calldata r) external returns (bytes32 studyId) {
        studyId = keccak256(abi.encode(msg.sender, r.salt));
        if (_studies[studyId].researcher != address(0)) revert StudyExists(studyId);
        if (r.protocolHash == 0 || r.approvalHash == 0) revert ZeroHash();
        if (r.encryptionKey == 0) revert ZeroKey();
        _checkScopes(r.scopes);
        uint64 nowTs = uint64(block.timestamp);
        if (r.endsAt <= nowTs) revert EndNotInFuture(r.endsAt, nowTs);
        if (r.endsAt > nowTs + MAX_DURATION) revert EndTooFar(r.endsAt, nowTs + MAX_DURATION);
        if (r.irb == address(0)) revert ZeroAddress();
        if (r.irb == msg.sender) revert IrbIsResearcher(r.irb);
        if (!trustRegistry.isTrusted(r.irb, IRB_ROLE)) revert IrbNotTrusted(r.irb);

        _studies[studyId] = Study({
            researcher: msg.sender,
            endsAt: r.endsAt,
            closed: false,
            irb: r.irb,
            registeredAt: nowTs,
            detailsHash: keccak256(abi.encode(r.protocolHash, r.approvalHash, r.encryptionKey, r.scopes))
        });
        emit StudyRegistered(
            studyId,
            msg.sender,
            r.irb,
            r.protocolHash,
            r.approvalHash,
            r.encryptionKey,
            r.endsAt,
            r.scopes
        );
    }

    /// @inheritdoc IStudyRegistry
    /// @dev Reverts UnknownStudy, NotStudyController, StudyAlreadyClosed. A study past its end date can still be
    /// closed (it says the researcher is done, not only that time ran out).
    function close(bytes32 studyId) external {
        Study storage study = _studies[studyId];
        address researcher = study.researcher;
        if (researcher == address(0)) revert UnknownStudy(studyId);
        if (msg.sender != researcher && msg.sender != study.irb) revert NotStudyController(msg.sender);
        if (study.closed) revert StudyAlreadyClosed(studyId);
        study.closed = true;
        emit StudyClosed(studyId, msg.sender, uint64(block.timestamp));
    }

    /// @inheritdoc IStudyRegistry
    function studyOf(bytes32 studyId) external view returns (Study memory) {
        return _studies[studyId];
    }

    /// @inheritdoc IStudyRegistry
    /// @dev An IRB whose accreditation ended or was revoked leaves its studies not open (closing stays possible).
    function isOpen(bytes32 studyId) external view returns (bool) {
        Study storage study = _studies[studyId];
        return
            study.researcher != address(0) &&
            !study.closed &&
            block.timestamp < study.endsAt &&
            trustRegistry.isTrusted(study.irb, IRB_ROLE);
    }

    /// @inheritdoc IStudyRegistry
    function studyIdOf(address researcher, bytes32 salt) external pure returns (bytes32) {
        return keccak256(abi.encode(researcher, salt));
    }

    /// @inheritdoc IStudyRegistry
    function detailsHashOf(
        bytes32 protocolHash,
        bytes32 approvalHash,
        bytes32 encryptionKey,
        bytes32[] calldata scopes
    ) external pure returns (bytes32) {
        return keccak256(abi.encode(protocolHash, approvalHash, encryptionKey, scopes));
    }

    /// @dev One to MAX_SCOPES non-zero hashes, strictly ascending.
    function _checkScopes(bytes32[] calldata scopes) private pure {
        uint256 count = scopes.length;
        if (count == 0) revert InvalidScopes();
        if (count > MAX_SCOPES) revert TooManyScopes(count, MAX_SCOPES);
        bytes32 previous = 0;
        for (uint256 i = 0; i < count; ++i) {
            bytes32 scope = scopes[i];
            if (scope <= previous) revert InvalidScopes(); // zero, duplicate or out of order
            previous = scope;
        }
    }
}
