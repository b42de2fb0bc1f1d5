// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IConsentRegistry
/// @notice Patient-controlled consent: a patient allows a grantee to use data in a scope
/// for a purpose until an expiry. Holds no PHI: scopes are keccak256 hashes of canonical
/// scope strings, parties are pseudonymous addresses.
/// @dev One storage slot per (patient, grantee, scope, purpose) packs `expiry` (bits 0..63)
/// and `version` (bits 64..95). Every grant, revoke and break-glass bumps `version`; a revoke
/// keeps the slot non-zero (a tombstone: expiry 0) so a re-grant is a cheap non-zero write and
/// a signature made for an older version can never be replayed.
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

    /// @notice The patient registered (maxDuration > 0) or removed (maxDuration == 0) a
    /// grantee allowed to break the glass on their records.
    event EmergencyGranteeSet(address indexed patient, address indexed grantee, uint32 maxDuration);

    /// @notice A pre-registered grantee broke the glass: Emergency access to `scope` until `expiry`.
    event EmergencyAccess(
        address indexed patient,
        address indexed grantee,
        bytes32 indexed scope,
        uint64 expiry,
        uint32 version
    );

    error ZeroAddress();
    error ZeroScope();
    error InvalidPurpose(uint8 purpose);
    error ExpiryInPast(uint64 expiry);
    error NothingToRevoke();
    error LengthMismatch();
    error EmptyBatch();
    error SignatureExpired(uint256 deadline);
    error StaleVersion(uint32 current, uint32 signed);
    error InvalidSignature();
    error EmergencyOnlyViaBreakGlass();
    error NotEmergencyGrantee(address patient, address grantee);
    error InvalidDuration();

    /// @notice msg.sender (the patient) allows `grantee` to use `scope` for `purpose` until `expiry`.
    function grant(address grantee, bytes32 scope, uint8 purpose, uint64 expiry) external;

    /// @notice msg.sender revokes a grant; reverts NothingToRevoke when none is recorded.
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

    /// @notice msg.sender (the patient) lets `grantee` break the glass for at most `maxDuration`
    /// seconds per use; `maxDuration == 0` removes the grantee.
    function setEmergencyGrantee(address grantee, uint32 maxDuration) external;

    /// @notice Called by a grantee the patient pre-registered: opens Emergency access to `scope`
    /// for the registered duration and always emits EmergencyAccess.
    function breakGlass(address patient, bytes32 scope) external;

    /// @notice True while a grant for exactly (patient, grantee, scope, purpose) is unexpired.
    function isAllowed(address patient, address grantee, bytes32 scope, uint8 purpose) external view returns (bool);

    /// @notice The raw slot: expiry (0 = none or revoked) and version (0 = never written).
    function consentOf(
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose
    ) external view returns (uint64 expiry, uint32 version);

    /// @notice Break-glass window a patient allows a grantee, 0 when not registered.
    function emergencyGranteeOf(address patient, address grantee) external view returns (uint32 maxDuration);
}
