// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IConsentRegistry
/// @notice Patient-controlled consent: a patient allows a grantee to use data in a scope
/// for a purpose until an expiry. Holds no PHI: scopes are keccak256 hashes of canonical
/// scope strings, parties are pseudonymous addresses.
/// @dev One storage slot per (patient, grantee, scope, purpose) packs `expiry` (bits 0..63)
/// and `version` (bits 64..95); Emergency slots also hold the registration epoch (bits 96..127).
/// Every grant, revoke and break-glass bumps `version` (reverting VersionOverflow rather than
/// wrapping); a revoke keeps the slot non-zero (a tombstone: expiry 0) so a re-grant is a cheap
/// non-zero write and a signature made for an older version can never be replayed.
interface IConsentRegistry {
    /// @notice Purposes, as uint8. 0 is invalid on purpose, so an unset field never grants.
    /// 1 Treatment, 2 Research, 3 Emergency (break-glass only), 4 Payment, 5 PublicHealth.

    /// @notice A grant was created or changed (expiry extended or shortened).
    event ConsentGranted(
        address indexed patient,
        address indexed grantee,
        bytes32 indexed scope,
        uint8 purpose,
        uint64 expiry,
        uint32 version
    );

    /// @notice A grant was revoked; the slot keeps `version` as a tombstone.
    event ConsentRevoked(
        address indexed patient,
        address indexed grantee,
        bytes32 indexed scope,
        uint8 purpose,
        uint32 version
    );

    /// @notice The patient started a new emergency registration of `grantee` (maxDuration > 0): it may
    /// break the glass once, for at most `maxDuration` seconds, on the scopes whose Merkle root is
    /// `scopesRoot`; or removed it (maxDuration == 0, scopesRoot == 0). Either way every emergency
    /// window the grantee had on the patient's records is closed.
    event EmergencyGranteeSet(address indexed patient, address indexed grantee, uint32 maxDuration, bytes32 scopesRoot);

    /// @notice A pre-registered grantee broke the glass: Emergency access to `scope` until `expiry`
    /// (the end of the registration's single window).
    event EmergencyAccess(
        address indexed patient,
        address indexed grantee,
        bytes32 indexed scope,
        uint64 expiry,
        uint32 version
    );

    /// @notice One grant of a relayed ConsentBatch: a grant of `scope` to `grantee` for `purpose` until
    /// `expiry`, signed for the slot's current `version` (as the single Grant message).
    struct GrantItem {
        address grantee;
        bytes32 scope;
        uint8 purpose;
        uint64 expiry;
        uint32 version;
    }

    /// @notice One revoke of a relayed ConsentBatch: a revoke of (grantee, scope, purpose), signed for the
    /// slot's current `version` (as the single Revoke message).
    struct RevokeItem {
        address grantee;
        bytes32 scope;
        uint8 purpose;
        uint32 version;
    }

    error ZeroAddress();
    error ZeroScope();
    error InvalidPurpose(uint8 purpose);
    error ExpiryInPast(uint64 expiry);
    error LengthMismatch();
    error EmptyBatch();
    error SignatureExpired(uint256 deadline);
    error StaleVersion(uint32 current, uint32 signed);
    error InvalidSignature();
    error EmergencyOnlyViaBreakGlass();
    error NotEmergencyGrantee(address patient, address grantee);
    error InvalidDuration();
    error ZeroScopesRoot();
    error ScopeNotRegistered(bytes32 scope);
    error EmergencyWindowUsed(uint64 windowEnd);
    error StaleEpoch(uint32 current, uint32 signed);
    error EpochTooFarAhead(uint32 current, uint32 signed);
    error VersionOverflow();

    /// @notice msg.sender (the patient) allows `grantee` to use `scope` for `purpose` until `expiry`.
    function grant(address grantee, bytes32 scope, uint8 purpose, uint64 expiry) external;

    /// @notice msg.sender revokes: the slot becomes a tombstone with a bumped version, whether or not a
    /// grant was active, so a revoke also cancels every outstanding Grant signature for the slot.
    /// Revoking purpose 3 (Emergency) also removes the grantee's emergency registration.
    function revoke(address grantee, bytes32 scope, uint8 purpose) external;

    /// @notice Many grants in one transaction; all four arrays have the same non-zero length.
    function grantBatch(
        address[] calldata grantees,
        bytes32[] calldata scopes,
        uint8[] calldata purposes,
        uint64[] calldata expiries
    ) external;

    /// @notice Relayed grant: `patient` signed EIP-712
    /// `Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)`
    /// where `version` is the slot's current version. Anyone may submit it (gasless for the patient).
    function grantBySig(
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose,
        uint64 expiry,
        uint32 version,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Relayed revoke: `patient` signed EIP-712
    /// `Revoke(address grantee,bytes32 scope,uint8 purpose,uint32 version,uint256 deadline)`.
    /// Same effect as `revoke`. For Emergency, prefer `setEmergencyGranteeBySig(.., 0, 0, ..)`: its
    /// nonce belongs to the patient alone, while a registered grantee can bump a slot's version.
    function revokeBySig(
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose,
        uint32 version,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Relayed batch under ONE signature: `patient` signed EIP-712
    /// `ConsentBatch(GrantItem[] grants,RevokeItem[] revokes,uint256 deadline)` (its type string is
    /// followed by the referenced types in alphabetical order:
    /// `GrantItem(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version)`
    /// `RevokeItem(address grantee,bytes32 scope,uint8 purpose,uint32 version)`; each array is encoded
    /// as keccak256 of its items' struct hashes concatenated, per EIP-712). Either list may be empty,
    /// not both. The grants apply in order, then the revokes in order (a revoke of a slot the batch
    /// also grants has the last word), each exactly as `grantBySig` / `revokeBySig` would: its version
    /// is the slot's version when the item applies (a slot named twice needs version + 1 the second
    /// time), an Emergency revoke also removes the grantee's registration, Emergency cannot be granted.
    /// The first bad item reverts the whole batch. Emits what the single forms emit, item by item.
    /// (One entry point for both lists: each selector added to the dispatcher would cost every call
    /// of grant, revoke and the other functions gas.)
    function consentBatchBySig(
        address patient,
        GrantItem[] calldata grants,
        RevokeItem[] calldata revokes,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice msg.sender (the patient) starts a new emergency registration of `grantee`: it may
    /// break the glass once, on the scopes in the Merkle tree `scopesRoot` (OpenZeppelin
    /// StandardMerkleTree of `[bytes32 scope]` leaves), for a window of at most `maxDuration` seconds
    /// (<= 7 days). `maxDuration == 0` (with `scopesRoot == 0`) removes the grantee. Either way every
    /// emergency window the grantee had is closed at once.
    function setEmergencyGrantee(address grantee, uint32 maxDuration, bytes32 scopesRoot) external;

    /// @notice Relayed `setEmergencyGrantee`: `patient` signed EIP-712
    /// `EmergencyGrantee(address grantee,uint32 maxDuration,bytes32 scopesRoot,uint32 epoch,uint256 deadline)`
    /// with the pair's current epoch (`emergencyGranteeOf`) <= `epoch` <= current + 1000; the pair moves
    /// to `epoch + 1`.
    /// Every change of the pair's registration, direct or relayed, moves the epoch, so a message signed
    /// before it can never be used; only the patient moves it, so no grantee can make the patient's
    /// removal stale: a patient without ETH can always end emergency access.
    function setEmergencyGranteeBySig(
        address patient,
        address grantee,
        uint32 maxDuration,
        bytes32 scopesRoot,
        uint32 epoch,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Called by a grantee the patient registered: Emergency access to `scope` (proved to be
    /// in the registration's tree by `proof`) until the end of the registration's single window, which
    /// the first call opens (now + maxDuration) and no later call extends. Always emits EmergencyAccess.
    function breakGlass(address patient, bytes32 scope, bytes32[] calldata proof) external;

    /// @notice True while a grant for exactly (patient, grantee, scope, purpose) is unexpired.
    function isAllowed(address patient, address grantee, bytes32 scope, uint8 purpose) external view returns (bool);

    /// @notice The slot: expiry (0 = none, revoked, or an Emergency window that a change of the
    /// registration closed) and version (0 = never written).
    function consentOf(
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose
    ) external view returns (uint64 expiry, uint32 version);

    /// @notice A grantee's current emergency registration: maxDuration (0 = not registered), the end of
    /// its window (0 = not opened yet), the Merkle root of its scopes, and its epoch (the lowest epoch
    /// the patient's next relayed EmergencyGrantee message for this grantee may carry).
    function emergencyGranteeOf(
        address patient,
        address grantee
    ) external view returns (uint32 maxDuration, uint64 windowEnd, bytes32 scopesRoot, uint32 epoch);
}
