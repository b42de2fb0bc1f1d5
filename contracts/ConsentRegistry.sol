// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";

/// @title ConsentRegistry
/// @notice Patient-controlled consent registry. A patient (msg.sender, or the EIP-712 signer of a
/// relayed message) allows a grantee to use data in a hashed scope for a purpose until an expiry.
/// No PHI is stored: only pseudonymous addresses, scope hashes, purposes, expiries and versions.
/// @dev Storage layout: one slot per key = keccak256(abi.encode(patient, grantee, scope, purpose)),
/// value = expiry (uint64, bits 0..63) | version (uint32, bits 64..95). Every write (grant, revoke,
/// break-glass) bumps `version`, so a revoke leaves a non-zero tombstone (cheap re-grant) and a
/// signature made for an older version can never be replayed.
///
/// Versions are incremented without an overflow check: wrapping a uint32 needs 2^32 writes to one
/// slot (more than 10^14 gas), which is not reachable.
///
/// Hot paths (grant, revoke, grantBatch) do exactly one SLOAD and one SSTORE of the packed slot,
/// and hash the key in memory past the free-memory pointer (not allocated, never read back).
contract ConsentRegistry is IConsentRegistry, EIP712 {
    /// @notice Purpose: treatment.
    uint8 public constant PURPOSE_TREATMENT = 1;
    /// @notice Purpose: research.
    uint8 public constant PURPOSE_RESEARCH = 2;
    /// @notice Purpose: emergency (only through breakGlass).
    uint8 public constant PURPOSE_EMERGENCY = 3;
    /// @notice Purpose: payment.
    uint8 public constant PURPOSE_PAYMENT = 4;
    /// @notice Purpose: public health.
    uint8 public constant PURPOSE_PUBLIC_HEALTH = 5;

    /// @notice Longest break-glass window a patient may allow: 7 days.
    uint32 public constant MAX_EMERGENCY_DURATION = 7 days;

    /// @notice EIP-712 typehash of a relayed grant.
    bytes32 public constant GRANT_TYPEHASH =
        keccak256("Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)");

    /// @notice EIP-712 typehash of a relayed revoke.
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("Revoke(address grantee,bytes32 scope,uint8 purpose,uint32 version,uint256 deadline)");

    uint256 private constant EXPIRY_MASK = 0xFFFFFFFFFFFFFFFF;

    /// @dev key => expiry | version << 64.
    mapping(bytes32 key => uint256 packed) private _consents;

    /// @dev patient => grantee => max break-glass duration in seconds (0 = not registered).
    mapping(address patient => mapping(address grantee => uint32 maxDuration)) private _emergencyGrantees;

    /// @notice Sets up the EIP-712 domain ("Hygeia ConsentRegistry", version "1", chain id, this address).
    constructor() EIP712("Hygeia ConsentRegistry", "1") {}

    // ------------------------------------------------------------------------------------------
    // Patient operations
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts ZeroAddress, ZeroScope, InvalidPurpose, EmergencyOnlyViaBreakGlass, ExpiryInPast.
    /// Re-granting an active grant (changing its expiry) is allowed and bumps the version.
    function grant(address grantee, bytes32 scope, uint8 purpose, uint64 expiry) external {
        _checkGrant(grantee, scope, purpose, expiry);
        _write(msg.sender, grantee, scope, purpose, expiry);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev An expired (not yet revoked) grant may be revoked; so may an Emergency (purpose 3) slot.
    /// Invalid purposes, zero grantees and zero scopes are never written, so they revert NothingToRevoke.
    function revoke(address grantee, bytes32 scope, uint8 purpose) external {
        bytes32 key = _key(msg.sender, grantee, scope, purpose);
        uint256 packed = _consents[key];
        if (packed & EXPIRY_MASK == 0) revert NothingToRevoke();
        _revoke(key, packed, msg.sender, grantee, scope, purpose);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts LengthMismatch, EmptyBatch, then per item the same errors as grant. A key that
    /// appears twice is simply granted twice (the later expiry wins, version bumps twice).
    function grantBatch(
        address[] calldata grantees,
        bytes32[] calldata scopes,
        uint8[] calldata purposes,
        uint64[] calldata expiries
    ) external {
        uint256 n = grantees.length;
        if (n != scopes.length || n != purposes.length || n != expiries.length) revert LengthMismatch();
        if (n == 0) revert EmptyBatch();
        for (uint256 i; i < n; ) {
            address grantee = grantees[i];
            bytes32 scope = scopes[i];
            uint8 purpose = purposes[i];
            uint64 expiry = expiries[i];
            _checkGrant(grantee, scope, purpose, expiry);
            _write(msg.sender, grantee, scope, purpose, expiry);
            unchecked {
                ++i;
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Relayed (EIP-712 signed) operations
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Checks, in order: SignatureExpired (block.timestamp > deadline), the grant checks of
    /// `grant`, StaleVersion (signed version != slot version), InvalidSignature (recovery fails,
    /// high-s, or signer != patient).
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
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        _checkGrant(grantee, scope, purpose, expiry);
        bytes32 key = _key(patient, grantee, scope, purpose);
        uint256 packed = _consents[key];
        {
            uint32 current = uint32(packed >> 64);
            if (version != current) revert StaleVersion(current, version);
        }
        _checkSigner(patient, _grantStructHash(grantee, scope, purpose, expiry, version, deadline), v, r, s);
        _store(key, packed, patient, grantee, scope, purpose, expiry);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Checks, in order: SignatureExpired, StaleVersion, InvalidSignature, NothingToRevoke.
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
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 key = _key(patient, grantee, scope, purpose);
        uint256 packed = _consents[key];
        {
            uint32 current = uint32(packed >> 64);
            if (version != current) revert StaleVersion(current, version);
        }
        _checkSigner(patient, _revokeStructHash(grantee, scope, purpose, version, deadline), v, r, s);
        if (packed & EXPIRY_MASK == 0) revert NothingToRevoke();
        _revoke(key, packed, patient, grantee, scope, purpose);
    }

    // ------------------------------------------------------------------------------------------
    // Break-glass
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts ZeroAddress (grantee == 0) and InvalidDuration (maxDuration > 7 days).
    function setEmergencyGrantee(address grantee, uint32 maxDuration) external {
        if (grantee == address(0)) revert ZeroAddress();
        if (maxDuration > MAX_EMERGENCY_DURATION) revert InvalidDuration();
        _emergencyGrantees[msg.sender][grantee] = maxDuration;
        emit EmergencyGranteeSet(msg.sender, grantee, maxDuration);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts NotEmergencyGrantee (msg.sender not registered by `patient`) and ZeroScope.
    /// Writes the Emergency (purpose 3) slot of (patient, msg.sender, scope) with
    /// expiry = block.timestamp + maxDuration and a bumped version; emits EmergencyAccess only.
    function breakGlass(address patient, bytes32 scope) external {
        uint256 maxDuration = _emergencyGrantees[patient][msg.sender];
        if (maxDuration == 0) revert NotEmergencyGrantee(patient, msg.sender);
        if (scope == 0) revert ZeroScope();
        bytes32 key = _key(patient, msg.sender, scope, PURPOSE_EMERGENCY);
        unchecked {
            // block.timestamp + 7 days fits in uint64 for the next ~5e11 years.
            uint64 expiry = uint64(block.timestamp + maxDuration);
            uint32 next = uint32(_consents[key] >> 64) + 1;
            _consents[key] = uint256(expiry) | (uint256(next) << 64);
            emit EmergencyAccess(patient, msg.sender, scope, expiry, next);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Never reverts on data: an invalid purpose simply returns false.
    function isAllowed(address patient, address grantee, bytes32 scope, uint8 purpose) external view returns (bool) {
        unchecked {
            if (purpose - 1 >= PURPOSE_PUBLIC_HEALTH) return false;
        }
        return _consents[_key(patient, grantee, scope, purpose)] & EXPIRY_MASK > block.timestamp;
    }

    /// @inheritdoc IConsentRegistry
    function consentOf(
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose
    ) external view returns (uint64 expiry, uint32 version) {
        uint256 packed = _consents[_key(patient, grantee, scope, purpose)];
        expiry = uint64(packed);
        version = uint32(packed >> 64);
    }

    /// @inheritdoc IConsentRegistry
    function emergencyGranteeOf(address patient, address grantee) external view returns (uint32 maxDuration) {
        return _emergencyGrantees[patient][grantee];
    }

    /// @notice The EIP-712 domain separator of this deployment (chain id and address included).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev keccak256(abi.encode(patient, grantee, scope, purpose)), hashed in unallocated memory.
    /// Callers pass ABI-decoded (hence clean) values or msg.sender.
    function _key(address patient, address grantee, bytes32 scope, uint8 purpose) private pure returns (bytes32 k) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, patient)
            mstore(add(m, 0x20), grantee)
            mstore(add(m, 0x40), scope)
            mstore(add(m, 0x60), purpose)
            k := keccak256(m, 0x80)
        }
    }

    /// @dev Argument checks shared by grant, grantBatch and grantBySig.
    function _checkGrant(address grantee, bytes32 scope, uint8 purpose, uint64 expiry) private view {
        if (grantee == address(0)) revert ZeroAddress();
        if (scope == 0) revert ZeroScope();
        unchecked {
            // purpose 0 wraps to 255: one comparison covers 0 and > 5.
            if (purpose - 1 >= PURPOSE_PUBLIC_HEALTH) revert InvalidPurpose(purpose);
        }
        if (purpose == PURPOSE_EMERGENCY) revert EmergencyOnlyViaBreakGlass();
        if (expiry <= block.timestamp) revert ExpiryInPast(expiry);
    }

    /// @dev One SLOAD + one SSTORE: expiry and version + 1; emits ConsentGranted.
    function _write(address patient, address grantee, bytes32 scope, uint8 purpose, uint64 expiry) private {
        bytes32 key = _key(patient, grantee, scope, purpose);
        _store(key, _consents[key], patient, grantee, scope, purpose, expiry);
    }

    /// @dev Stores `expiry` with version(packed) + 1 at `key`; emits ConsentGranted.
    function _store(
        bytes32 key,
        uint256 packed,
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose,
        uint64 expiry
    ) private {
        unchecked {
            uint32 next = uint32(packed >> 64) + 1;
            _consents[key] = uint256(expiry) | (uint256(next) << 64);
            emit ConsentGranted(patient, grantee, scope, purpose, expiry, next);
        }
    }

    /// @dev Writes the tombstone (expiry 0, version + 1) and emits ConsentRevoked.
    function _revoke(
        bytes32 key,
        uint256 packed,
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose
    ) private {
        unchecked {
            uint32 next = uint32(packed >> 64) + 1;
            _consents[key] = uint256(next) << 64;
            emit ConsentRevoked(patient, grantee, scope, purpose, next);
        }
    }

    /// @dev EIP-712 struct hash of Grant(grantee, scope, purpose, expiry, version, deadline).
    function _grantStructHash(
        address grantee,
        bytes32 scope,
        uint8 purpose,
        uint64 expiry,
        uint32 version,
        uint256 deadline
    ) private pure returns (bytes32 structHash) {
        bytes32 typehash = GRANT_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            mstore(add(m, 0x20), grantee)
            mstore(add(m, 0x40), scope)
            mstore(add(m, 0x60), purpose)
            mstore(add(m, 0x80), expiry)
            mstore(add(m, 0xa0), version)
            mstore(add(m, 0xc0), deadline)
            structHash := keccak256(m, 0xe0)
        }
    }

    /// @dev EIP-712 struct hash of Revoke(grantee, scope, purpose, version, deadline).
    function _revokeStructHash(
        address grantee,
        bytes32 scope,
        uint8 purpose,
        uint32 version,
        uint256 deadline
    ) private pure returns (bytes32 structHash) {
        bytes32 typehash = REVOKE_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            mstore(add(m, 0x20), grantee)
            mstore(add(m, 0x40), scope)
            mstore(add(m, 0x60), purpose)
            mstore(add(m, 0x80), version)
            mstore(add(m, 0xa0), deadline)
            structHash := keccak256(m, 0xc0)
        }
    }

    /// @dev Reverts InvalidSignature unless (v, r, s) over the EIP-712 digest of `structHash`
    /// recovers to `patient`. OZ ECDSA rejects high-s (malleable) signatures and a zero signer,
    /// so patient == address(0) can never pass.
    function _checkSigner(address patient, bytes32 structHash, uint8 v, bytes32 r, bytes32 s) private view {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(_hashTypedDataV4(structHash), v, r, s);
        if (err != ECDSA.RecoverError.NoError || signer != patient) revert InvalidSignature();
    }
}
