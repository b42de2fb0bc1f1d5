// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";

/// @title ConsentRegistry
/// @notice Patient-controlled consent registry. A patient (msg.sender, or the EIP-712 signer of a
/// relayed message) allows a grantee to use data in a hashed scope for a purpose until an expiry.
/// No PHI is stored: only pseudonymous addresses, scope hashes, purposes, expiries and versions.
/// Purposes: 1 Treatment, 2 Research, 3 Emergency (break-glass only), 4 Payment, 5 PublicHealth.
/// @dev Storage: `_consents[key]` with key = keccak256(abi.encode(patient, grantee, scope, purpose))
/// holds expiry (uint64, bits 0..63) | version (uint32, bits 64..95), and for Emergency slots the
/// epoch of the registration that opened them (uint32, bits 96..127). Every write (grant, revoke,
/// break-glass) bumps `version`, so a revoke leaves a non-zero tombstone (cheap re-grant) and a
/// signature made for an older version can never be replayed. A revoke always writes, so it also
/// cancels outstanding Grant signatures for a slot that was never granted or is already revoked.
///
/// Break-glass rule (what protects the patient): each emergency registration names its scopes (a
/// Merkle root) and a maximum duration (<= 7 days) and allows ONE window: the first breakGlass opens
/// it until now + maxDuration; later calls add scopes inside it but never extend it; once it has
/// ended, breaking the glass again needs a new registration by the patient. Any change of the
/// registration (direct or relayed, or a revoke of an Emergency slot) starts a new epoch, which
/// closes every open window of the grantee at once and voids every relayed registration message
/// signed for an earlier epoch. Only the patient moves the epoch (a signature for epoch e moves it to
/// e + 1, so a removal may skip past messages the patient signed before), so no grantee can block a
/// patient's relayed way out; and a repeated breakGlass on an open scope bumps no version, so it
/// cannot make the patient's signed Revoke of that slot stale either.
///
/// Gas: grant, revoke and grantBatch are written in inline assembly so that each does one SLOAD,
/// one SSTORE and one LOG4 of the packed slot and little else. They validate with one combined
/// branch-free condition; only when it fails do they call `_revertGrant`, plain Solidity that
/// reverts with the precise custom error. Keys are hashed in unallocated memory past the
/// free-memory pointer (the pointer is never advanced: nothing there is read back after the
/// block), the mapping slot in scratch space, exactly as Solidity's own mapping access would.
///
/// Versions never wrap: a write that would take a version past 2^32 - 1 reverts VersionOverflow.
/// (Wrapping would turn a tombstone into "never written" and revive an old version-0 signature;
/// repeated keys in one grantBatch bump a version for ~3,900 gas, so 2^32 bumps cost ~1.7e13 gas:
/// expensive, not unreachable.)
contract ConsentRegistry is IConsentRegistry, EIP712 {
    /// @dev Purposes (see the contract NatSpec). Not public: each getter adds a selector to the
    /// dispatcher, which costs gas on every call (8 such getters cost grant/revoke ~33 gas); the
    /// values are fixed by the interface documentation.
    uint8 internal constant PURPOSE_TREATMENT = 1;
    uint8 internal constant PURPOSE_RESEARCH = 2;
    uint8 internal constant PURPOSE_EMERGENCY = 3;
    uint8 internal constant PURPOSE_PAYMENT = 4;
    uint8 internal constant PURPOSE_PUBLIC_HEALTH = 5;

    /// @dev Bit p set <=> purpose p may be granted by grant / grantBatch / grantBySig:
    /// (1 << 1) | (1 << 2) | (1 << 4) | (1 << 5). `and(shr(p, 0x36), 1)` is 0 for p = 0, 3, >= 6.
    uint256 private constant GRANTABLE_PURPOSES = 0x36;

    /// @dev How far ahead of the pair's current epoch a relayed registration message may be signed.
    /// Skipping lets a removal void messages held back; the cap keeps 2^32 epochs out of reach (at
    /// 2^32 - 1 every change of the pair would revert, freezing an open window until it ends).
    uint32 internal constant MAX_EPOCH_SKIP = 1000;

    /// @dev Longest break-glass window a patient may allow: 7 days.
    uint32 internal constant MAX_EMERGENCY_DURATION = 7 days;

    /// @notice EIP-712 typehash of a relayed grant (public: clients check their encoding against it).
    bytes32 public constant GRANT_TYPEHASH =
        keccak256("Grant(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version,uint256 deadline)");
    /// @notice EIP-712 typehash of a relayed revoke.
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("Revoke(address grantee,bytes32 scope,uint8 purpose,uint32 version,uint256 deadline)");
    /// @notice EIP-712 typehash of a relayed emergency registration (or removal, maxDuration 0).
    bytes32 public constant EMERGENCY_GRANTEE_TYPEHASH =
        keccak256(
            "EmergencyGrantee(address grantee,uint32 maxDuration,bytes32 scopesRoot,uint32 epoch,uint256 deadline)"
        );

    /// @dev EIP-712 typehashes of the signed batch (private: a public getter would add a selector to
    /// the dispatcher and cost every call; the type strings are in the interface NatSpec and the chain
    /// package's README, and the tests check the clients' encoding against the contract).
    bytes32 private constant GRANT_ITEM_TYPEHASH =
        keccak256("GrantItem(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version)");
    bytes32 private constant REVOKE_ITEM_TYPEHASH =
        keccak256("RevokeItem(address grantee,bytes32 scope,uint8 purpose,uint32 version)");
    bytes32 private constant CONSENT_BATCH_TYPEHASH =
        keccak256(
            "ConsentBatch(GrantItem[] grants,RevokeItem[] revokes,uint256 deadline)"
            "GrantItem(address grantee,bytes32 scope,uint8 purpose,uint64 expiry,uint32 version)"
            "RevokeItem(address grantee,bytes32 scope,uint8 purpose,uint32 version)"
        );

    uint256 private constant VERSION_MASK = 0xFFFFFFFF;
    uint256 private constant ADDRESS_MAX = 0x00FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF; // 2^160 - 1

    /// @dev key => expiry | version << 64.
    mapping(bytes32 key => uint256 packed) private _consents;

    /// @dev An emergency registration. `epoch` moves forward with every change of the pair's
    /// registration (only the patient can change it); an Emergency slot is open only while it carries
    /// the current epoch, and a relayed change is valid only for an epoch not yet passed.
    struct EmergencyGrantee {
        uint32 maxDuration; // seconds; 0 = not registered
        uint32 epoch;
        uint64 windowEnd; // 0 = window not opened yet
        bytes32 scopesRoot;
    }

    mapping(address patient => mapping(address grantee => EmergencyGrantee)) private _emergencyGrantees;

    /// @notice Sets up the EIP-712 domain ("Hygeia ConsentRegistry", version "1", chain id, this address).
    constructor() EIP712("Hygeia ConsentRegistry", "1") {}

    // ------------------------------------------------------------------------------------------
    // Patient operations
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts, in this order: ZeroAddress, ZeroScope, InvalidPurpose, EmergencyOnlyViaBreakGlass,
    /// ExpiryInPast, VersionOverflow. Re-granting an active grant (changing its expiry) is allowed and bumps the version.
    function grant(address grantee, bytes32 scope, uint8 purpose, uint64 expiry) external {
        bool ok;
        assembly ("memory-safe") {
            // Arguments are ABI-decoded, hence clean: grantee != 0, scope != 0,
            // purpose in {1, 2, 4, 5}, expiry > now.
            ok := and(
                and(gt(grantee, 0), gt(scope, 0)),
                and(shr(purpose, GRANTABLE_PURPOSES), gt(expiry, timestamp()))
            )
        }
        if (!ok) _revertGrant(grantee, scope, purpose, expiry);
        bytes32 topic = ConsentGranted.selector;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, caller())
            mstore(add(m, 0x20), grantee)
            mstore(add(m, 0x40), scope)
            mstore(add(m, 0x60), purpose)
            mstore(0x00, keccak256(m, 0x80))
            mstore(0x20, _consents.slot)
            let slot := keccak256(0x00, 0x40)
            // Grantable purposes never hold an epoch: bits above the version are zero.
            let next := add(shr(64, sload(slot)), 1)
            if shr(32, next) {
                mstore(0x00, 0x3f947f2f) // VersionOverflow.selector (a test reverts through it)
                revert(0x1c, 0x04)
            }
            sstore(slot, or(expiry, shl(64, next)))
            // Event data (purpose, expiry, version) starts at the purpose word of the key.
            mstore(add(m, 0x80), expiry)
            mstore(add(m, 0xa0), next)
            log4(add(m, 0x60), 0x60, topic, caller(), grantee, scope)
        }
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts, in this order: ZeroAddress, ZeroScope, InvalidPurpose, VersionOverflow. Any slot
    /// may be revoked (active, expired, already revoked or never written): the write is what cancels
    /// outstanding Grant signatures. Purpose 3 (Emergency) takes `_revokeEmergency`, which also ends
    /// the grantee's registration.
    function revoke(address grantee, bytes32 scope, uint8 purpose) external {
        uint256 slot;
        uint256 next;
        bool fast;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, caller())
            mstore(add(m, 0x20), grantee)
            mstore(add(m, 0x40), scope)
            mstore(add(m, 0x60), purpose)
            mstore(0x00, keccak256(m, 0x80))
            mstore(0x20, _consents.slot)
            slot := keccak256(0x00, 0x40)
            next := add(shr(64, sload(slot)), 1)
            // One combined condition: grantee != 0, scope != 0, purpose in {1, 2, 4, 5} (Emergency
            // and invalid purposes take the slow path) and the bumped version still fits in 32 bits.
            fast := and(
                and(gt(grantee, 0), gt(scope, 0)),
                and(shr(purpose, GRANTABLE_PURPOSES), iszero(shr(32, next)))
            )
        }
        if (!fast) return _revokeSlow(msg.sender, grantee, scope, purpose, slot);
        bytes32 topic = ConsentRevoked.selector;
        assembly ("memory-safe") {
            sstore(slot, shl(64, next))
            // Event data (purpose, version) starts at the purpose word of the key.
            let m := add(mload(0x40), 0x60)
            mstore(m, purpose)
            mstore(add(m, 0x20), next)
            log4(m, 0x40, topic, caller(), grantee, scope)
        }
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts LengthMismatch, EmptyBatch, then for the first invalid item the same error as
    /// grant (malformed, i.e. dirty, array elements revert without data like the ABI decoder).
    /// A key that appears twice is granted twice (the later expiry wins, version bumps twice).
    function grantBatch(
        address[] calldata grantees,
        bytes32[] calldata scopes,
        uint8[] calldata purposes,
        uint64[] calldata expiries
    ) external {
        uint256 n = grantees.length;
        if (n != scopes.length || n != purposes.length || n != expiries.length) revert LengthMismatch();
        if (n == 0) revert EmptyBatch();
        uint256 bad;
        {
            uint256 g;
            uint256 sc;
            uint256 p;
            uint256 e;
            assembly ("memory-safe") {
                g := grantees.offset
                sc := scopes.offset
                p := purposes.offset
                e := expiries.offset
            }
            bad = _grantMany(g, sc, p, e, n);
        }
        // Checked (ABI-validating) reads of the bad item, then the precise error.
        if (bad != type(uint256).max) _revertGrant(grantees[bad], scopes[bad], purposes[bad], expiries[bad]);
    }

    // ------------------------------------------------------------------------------------------
    // Relayed (EIP-712 signed) operations
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Checks, in order: SignatureExpired (block.timestamp > deadline), the checks of `grant`,
    /// StaleVersion (signed version != slot version), InvalidSignature (recovery fails, high-s,
    /// or signer != patient).
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
        bool ok;
        assembly ("memory-safe") {
            ok := and(
                and(gt(grantee, 0), gt(scope, 0)),
                and(shr(purpose, GRANTABLE_PURPOSES), gt(expiry, timestamp()))
            )
        }
        if (!ok) _revertGrant(grantee, scope, purpose, expiry);
        uint256 slot = _slot(patient, grantee, scope, purpose);
        uint256 packed = _load(slot);
        _checkVersion(packed, version);
        _checkSigner(patient, _grantStructHash(grantee, scope, purpose, expiry, version, deadline), v, r, s);
        _store(slot, packed, patient, grantee, scope, purpose, expiry);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Checks, in order: SignatureExpired, ZeroAddress, ZeroScope, InvalidPurpose, StaleVersion,
    /// InvalidSignature, VersionOverflow.
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
        _checkRevocable(grantee, scope, purpose);
        uint256 slot = _slot(patient, grantee, scope, purpose);
        uint256 packed = _load(slot);
        _checkVersion(packed, version);
        _checkSigner(patient, _revokeStructHash(grantee, scope, purpose, version, deadline), v, r, s);
        if (purpose == PURPOSE_EMERGENCY) _revokeEmergency(patient, grantee, scope, slot, packed);
        else _revoke(slot, packed, patient, grantee, scope, purpose);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Checks, in order: SignatureExpired, EmptyBatch (both lists empty), then item by item (the
    /// grants, then the revokes) the checks of `grantBySig` / `revokeBySig` as the item is written
    /// (those of `grant` or `_checkRevocable`, StaleVersion, VersionOverflow), and last
    /// InvalidSignature, over the whole batch: every item, their order, both lists and the deadline.
    /// Writing before the signature is checked is safe: there is no external call, and a bad
    /// signature reverts every write. No size cap: only the patient chooses the items (the signature
    /// binds them), and a large batch (~27k gas an item) costs whoever relays it, within the block gas
    /// limit.
    function consentBatchBySig(
        address patient,
        GrantItem[] calldata grants,
        RevokeItem[] calldata revokes,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (grants.length == 0 && revokes.length == 0) revert EmptyBatch();
        bytes32 grantsHash = _grantItems(patient, grants);
        bytes32 revokesHash = _revokeItems(patient, revokes);
        bytes32 typehash = CONSENT_BATCH_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            mstore(add(m, 0x20), grantsHash)
            mstore(add(m, 0x40), revokesHash)
            mstore(add(m, 0x60), deadline)
            structHash := keccak256(m, 0x80)
        }
        _checkSigner(patient, structHash, v, r, s);
    }

    // ------------------------------------------------------------------------------------------
    // Break-glass
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts, in this order: ZeroAddress, InvalidDuration (maxDuration > 7 days), ZeroScopesRoot
    /// (a registration must name its scopes), ScopeNotRegistered(scopesRoot) (a removal, maxDuration 0,
    /// that names scopes: probably a mistake, refused rather than ignored).
    function setEmergencyGrantee(address grantee, uint32 maxDuration, bytes32 scopesRoot) external {
        _checkRegistration(grantee, maxDuration, scopesRoot);
        _setEmergencyGrantee(msg.sender, grantee, maxDuration, scopesRoot, _emergencyGrantees[msg.sender][grantee].epoch + 1);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Checks, in order: SignatureExpired, the checks of setEmergencyGrantee, StaleEpoch (the
    /// signed epoch is below the pair's current one), EpochTooFarAhead (more than 1000 above it),
    /// InvalidSignature. The registration's epoch becomes
    /// `epoch + 1`, so a signature for an epoch above the current one is accepted and skips: a removal
    /// signed for current + k cannot be made stale by up to k earlier messages someone holds back.
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
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        _checkRegistration(grantee, maxDuration, scopesRoot);
        uint32 current = _emergencyGrantees[patient][grantee].epoch;
        if (epoch < current) revert StaleEpoch(current, epoch);
        if (epoch - current > MAX_EPOCH_SKIP) revert EpochTooFarAhead(current, epoch);
        bytes32 structHash = keccak256(
            abi.encode(EMERGENCY_GRANTEE_TYPEHASH, grantee, maxDuration, scopesRoot, epoch, deadline)
        );
        _checkSigner(patient, structHash, v, r, s);
        // Checked: epoch 2^32 - 1 cannot be signed past (a wrap would revive old windows).
        _setEmergencyGrantee(patient, grantee, maxDuration, scopesRoot, epoch + 1);
    }

    /// @inheritdoc IConsentRegistry
    /// @dev Reverts, in this order: NotEmergencyGrantee (msg.sender not registered by `patient`),
    /// ZeroScope, ScopeNotRegistered (`proof` does not place `scope` in the registration's tree),
    /// EmergencyWindowUsed (the registration's window has ended), VersionOverflow. Writes the
    /// Emergency (purpose 3) slot of (patient, msg.sender, scope) with expiry = the window's end, a
    /// bumped version and the registration's epoch; emits EmergencyAccess only (never ConsentGranted).
    /// Breaking the glass again on a scope already open in this window writes nothing (the version
    /// stays, so the grantee cannot make a patient's signed Revoke of the slot stale) and emits again.
    function breakGlass(address patient, bytes32 scope, bytes32[] calldata proof) external {
        EmergencyGrantee storage reg = _emergencyGrantees[patient][msg.sender];
        uint256 maxDuration = reg.maxDuration;
        if (maxDuration == 0) revert NotEmergencyGrantee(patient, msg.sender);
        if (scope == 0) revert ZeroScope();
        // Leaf of an OpenZeppelin StandardMerkleTree of [bytes32]: double hashed, so no inner node
        // can pass as a leaf.
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(scope))));
        if (!MerkleProof.verifyCalldata(proof, reg.scopesRoot, leaf)) revert ScopeNotRegistered(scope);
        uint64 windowEnd = reg.windowEnd;
        if (windowEnd == 0) {
            // block.timestamp + 7 days fits in uint64 for the next ~5e11 years.
            windowEnd = uint64(block.timestamp + maxDuration);
            reg.windowEnd = windowEnd;
        } else if (windowEnd <= block.timestamp) {
            revert EmergencyWindowUsed(windowEnd);
        }
        uint256 slot = _slot(patient, msg.sender, scope, PURPOSE_EMERGENCY);
        uint256 packed = _load(slot);
        uint256 epoch = reg.epoch;
        if (uint64(packed) == windowEnd && uint32(packed >> 96) == epoch) {
            emit EmergencyAccess(patient, msg.sender, scope, windowEnd, uint32(packed >> 64));
            return;
        }
        uint256 next = _nextVersion(packed);
        assembly ("memory-safe") {
            sstore(slot, or(or(windowEnd, shl(64, next)), shl(96, epoch)))
        }
        emit EmergencyAccess(patient, msg.sender, scope, windowEnd, uint32(next));
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
        return _expiryOf(patient, grantee, purpose, _load(_slot(patient, grantee, scope, purpose))) > block.timestamp;
    }

    /// @inheritdoc IConsentRegistry
    function consentOf(
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose
    ) external view returns (uint64 expiry, uint32 version) {
        uint256 packed = _load(_slot(patient, grantee, scope, purpose));
        expiry = _expiryOf(patient, grantee, purpose, packed);
        version = uint32(packed >> 64);
    }

    /// @inheritdoc IConsentRegistry
    function emergencyGranteeOf(
        address patient,
        address grantee
    ) external view returns (uint32 maxDuration, uint64 windowEnd, bytes32 scopesRoot, uint32 epoch) {
        EmergencyGrantee storage reg = _emergencyGrantees[patient][grantee];
        return (reg.maxDuration, reg.windowEnd, reg.scopesRoot, reg.epoch);
    }

    /// @notice The EIP-712 domain separator of this deployment (chain id and address included).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Reverts with the precise error for arguments that failed the combined grant check.
    /// The checks run in the documented order; if the first four pass, the expiry is what failed.
    function _revertGrant(address grantee, bytes32 scope, uint8 purpose, uint64 expiry) private pure {
        if (grantee == address(0)) revert ZeroAddress();
        if (scope == 0) revert ZeroScope();
        unchecked {
            // purpose 0 wraps to 255: one comparison covers 0 and > 5.
            if (purpose - 1 >= PURPOSE_PUBLIC_HEALTH) revert InvalidPurpose(purpose);
        }
        if (purpose == PURPOSE_EMERGENCY) revert EmergencyOnlyViaBreakGlass();
        revert ExpiryInPast(expiry);
    }

    /// @dev revoke's slow path: Emergency slots, and the precise error for everything else that
    /// failed the combined check (the checks of `_checkRevocable`, then VersionOverflow).
    function _revokeSlow(address patient, address grantee, bytes32 scope, uint8 purpose, uint256 slot) private {
        _checkRevocable(grantee, scope, purpose);
        uint256 packed = _load(slot);
        if (purpose == PURPOSE_EMERGENCY) _revokeEmergency(patient, grantee, scope, slot, packed);
        else revert VersionOverflow(); // the only check of the fast path left
    }

    /// @dev Reverts ZeroAddress, ZeroScope or InvalidPurpose for a slot no write can ever target.
    function _checkRevocable(address grantee, bytes32 scope, uint8 purpose) private pure {
        if (grantee == address(0)) revert ZeroAddress();
        if (scope == 0) revert ZeroScope();
        unchecked {
            if (purpose - 1 >= PURPOSE_PUBLIC_HEALTH) revert InvalidPurpose(purpose);
        }
    }

    /// @dev Tombstones an Emergency slot (dropping its epoch) and ends the grantee's registration, so
    /// that the grantee cannot simply break the glass again.
    function _revokeEmergency(address patient, address grantee, bytes32 scope, uint256 slot, uint256 packed) private {
        uint256 next = _nextVersion(packed);
        assembly ("memory-safe") {
            sstore(slot, shl(64, next))
        }
        emit ConsentRevoked(patient, grantee, scope, PURPOSE_EMERGENCY, uint32(next));
        _setEmergencyGrantee(patient, grantee, 0, 0, _emergencyGrantees[patient][grantee].epoch + 1);
    }

    /// @dev Reverts ZeroAddress, InvalidDuration (> 7 days), ZeroScopesRoot (a registration must name
    /// its scopes) and ScopeNotRegistered(root) for a removal (maxDuration 0) that names a root.
    function _checkRegistration(address grantee, uint32 maxDuration, bytes32 scopesRoot) private pure {
        if (grantee == address(0)) revert ZeroAddress();
        if (maxDuration > MAX_EMERGENCY_DURATION) revert InvalidDuration();
        if (maxDuration != 0 && scopesRoot == 0) revert ZeroScopesRoot();
        if (maxDuration == 0 && scopesRoot != 0) revert ScopeNotRegistered(scopesRoot);
    }

    /// @dev Moves (patient, grantee) to `epoch` (above the current one: callers pass current + 1 with
    /// checked arithmetic, or a signed epoch + 1): closes every open window of the grantee and makes
    /// every relayed registration signed for an earlier epoch unusable.
    function _setEmergencyGrantee(
        address patient,
        address grantee,
        uint32 maxDuration,
        bytes32 scopesRoot,
        uint32 epoch
    ) private {
        EmergencyGrantee storage reg = _emergencyGrantees[patient][grantee];
        reg.epoch = epoch;
        reg.maxDuration = maxDuration;
        reg.windowEnd = 0;
        reg.scopesRoot = scopesRoot;
        emit EmergencyGranteeSet(patient, grantee, maxDuration, scopesRoot);
    }

    /// @dev The expiry a slot grants: its stored expiry, except that an Emergency slot counts only
    /// while it carries its registration's current epoch (a change of registration closes it).
    function _expiryOf(address patient, address grantee, uint8 purpose, uint256 packed) private view returns (uint64) {
        uint64 expiry = uint64(packed);
        if (purpose != PURPOSE_EMERGENCY || expiry == 0) return expiry;
        EmergencyGrantee storage reg = _emergencyGrantees[patient][grantee];
        if (reg.maxDuration == 0 || uint32(packed >> 96) != reg.epoch) return 0;
        return expiry;
    }

    /// @dev version(packed) + 1; reverts VersionOverflow instead of wrapping.
    function _nextVersion(uint256 packed) private pure returns (uint256) {
        uint256 next = uint256(uint32(packed >> 64)) + 1;
        if (next > VERSION_MASK) revert VersionOverflow();
        return next;
    }

    /// @dev The grantBatch loop over `n` items of four calldata arrays (given by their offsets; the
    /// ABI decoder checked that each array lies inside calldata). Elements are read raw and
    /// range-checked with one combined condition (grantee 1..2^160-1, scope != 0, purpose in
    /// {1, 2, 4, 5}, now < expiry < 2^64). Returns the index of the first invalid item, or
    /// type(uint256).max when all were written.
    function _grantMany(
        uint256 grantees,
        uint256 scopes,
        uint256 purposes,
        uint256 expiries,
        uint256 n
    ) private returns (uint256 bad) {
        bad = type(uint256).max;
        bytes32 topic = ConsentGranted.selector;
        assembly ("memory-safe") {
            // Memory past the free pointer: m: patient | grantee | scope | purpose | expiry | version.
            // The key hashes [m, m + 0x80); the event data is [m + 0x60, m + 0xc0).
            let m := mload(0x40)
            mstore(m, caller())
            mstore(0x20, _consents.slot)
            // Valid expiry: lo <= e < 2^64, i.e. e - lo < span (unsigned; wraps when e < lo).
            let lo := add(timestamp(), 1)
            let span := sub(shl(64, 1), lo)
            n := shl(5, n) // byte length of each array
            for {
                let o := 0
            } lt(o, n) {
                o := add(o, 0x20)
            } {
                let g := calldataload(add(grantees, o))
                let sc := calldataload(add(scopes, o))
                let p := calldataload(add(purposes, o))
                let e := calldataload(add(expiries, o))
                if iszero(
                    and(
                        and(lt(sub(g, 1), ADDRESS_MAX), lt(sub(e, lo), span)),
                        and(shr(p, GRANTABLE_PURPOSES), gt(sc, 0))
                    )
                ) {
                    bad := shr(5, o)
                    break
                }
                mstore(add(m, 0x20), g)
                mstore(add(m, 0x40), sc)
                mstore(add(m, 0x60), p)
                mstore(0x00, keccak256(m, 0x80))
                let slot := keccak256(0x00, 0x40)
                let next := add(shr(64, sload(slot)), 1)
                if shr(32, next) {
                    mstore(0x00, 0x3f947f2f) // VersionOverflow.selector
                    revert(0x1c, 0x04)
                }
                sstore(slot, or(e, shl(64, next)))
                mstore(add(m, 0x80), e)
                mstore(add(m, 0xa0), next)
                log4(add(m, 0x60), 0x60, topic, caller(), g, sc)
            }
        }
    }

    /// @dev Storage slot of `_consents[keccak256(abi.encode(patient, grantee, scope, purpose))]`.
    /// Callers pass ABI-decoded (hence clean) values or msg.sender.
    function _slot(address patient, address grantee, bytes32 scope, uint8 purpose) private pure returns (uint256 slot) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, patient)
            mstore(add(m, 0x20), grantee)
            mstore(add(m, 0x40), scope)
            mstore(add(m, 0x60), purpose)
            mstore(0x00, keccak256(m, 0x80))
            mstore(0x20, _consents.slot)
            slot := keccak256(0x00, 0x40)
        }
    }

    /// @dev sload(slot).
    function _load(uint256 slot) private view returns (uint256 packed) {
        assembly ("memory-safe") {
            packed := sload(slot)
        }
    }

    /// @dev Reverts StaleVersion(current, signed) unless the slot's version is the signed one.
    function _checkVersion(uint256 packed, uint32 signed) private pure {
        uint32 current = uint32(packed >> 64);
        if (signed != current) revert StaleVersion(current, signed);
    }

    /// @dev Stores `expiry` with version(packed) + 1 at `slot`; emits ConsentGranted.
    function _store(
        uint256 slot,
        uint256 packed,
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose,
        uint64 expiry
    ) private {
        uint256 next = _nextVersion(packed);
        bytes32 topic = ConsentGranted.selector;
        assembly ("memory-safe") {
            sstore(slot, or(expiry, shl(64, next)))
            let m := mload(0x40)
            mstore(m, purpose)
            mstore(add(m, 0x20), expiry)
            mstore(add(m, 0x40), next)
            log4(m, 0x60, topic, patient, grantee, scope)
        }
    }

    /// @dev Writes the tombstone (expiry 0, version + 1) at `slot`; emits ConsentRevoked.
    function _revoke(
        uint256 slot,
        uint256 packed,
        address patient,
        address grantee,
        bytes32 scope,
        uint8 purpose
    ) private {
        uint256 next = _nextVersion(packed);
        bytes32 topic = ConsentRevoked.selector;
        assembly ("memory-safe") {
            sstore(slot, shl(64, next))
            let m := mload(0x40)
            mstore(m, purpose)
            mstore(add(m, 0x20), next)
            log4(m, 0x40, topic, patient, grantee, scope)
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

    /// @dev consentBatchBySig's grants, applied in order (each written before the next is checked, so a
    /// slot named twice needs its bumped version the second time; a revert undoes them all, the
    /// signature is checked after the loop). Returns keccak256 of the items' struct hashes
    /// concatenated: the EIP-712 encoding of `GrantItem[] items`.
    function _grantItems(address patient, GrantItem[] calldata items) private returns (bytes32 itemsHash) {
        uint256 n = items.length;
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i; i < n; ) {
            hashes[i] = _grantItem(patient, items[i]);
            unchecked {
                ++i;
            }
        }
        assembly ("memory-safe") {
            itemsHash := keccak256(add(hashes, 0x20), shl(5, n))
        }
    }

    /// @dev One grant of consentBatchBySig: the checks of grant, StaleVersion, the write and its event.
    /// Returns the item's EIP-712 struct hash.
    function _grantItem(address patient, GrantItem calldata item) private returns (bytes32 itemHash) {
        // Checked reads: a dirty field reverts without data, like the ABI decoder; once read, the
        // item's five calldata words are clean and are hashed as they are.
        address grantee = item.grantee;
        bytes32 scope = item.scope;
        uint8 purpose = item.purpose;
        uint64 expiry = item.expiry;
        uint32 version = item.version;
        bool ok;
        assembly ("memory-safe") {
            ok := and(
                and(gt(grantee, 0), gt(scope, 0)),
                and(shr(purpose, GRANTABLE_PURPOSES), gt(expiry, timestamp()))
            )
        }
        if (!ok) _revertGrant(grantee, scope, purpose, expiry);
        uint256 slot = _slot(patient, grantee, scope, purpose);
        uint256 packed = _load(slot);
        _checkVersion(packed, version);
        _store(slot, packed, patient, grantee, scope, purpose, expiry);
        bytes32 typehash = GRANT_ITEM_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), item, 0xa0)
            itemHash := keccak256(m, 0xc0)
        }
    }

    /// @dev consentBatchBySig's revokes, applied in order like _grantItems; returns the EIP-712
    /// encoding of `RevokeItem[] items`.
    function _revokeItems(address patient, RevokeItem[] calldata items) private returns (bytes32 itemsHash) {
        uint256 n = items.length;
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i; i < n; ) {
            hashes[i] = _revokeItem(patient, items[i]);
            unchecked {
                ++i;
            }
        }
        assembly ("memory-safe") {
            itemsHash := keccak256(add(hashes, 0x20), shl(5, n))
        }
    }

    /// @dev One revoke of consentBatchBySig: the checks of revokeBySig, the tombstone and its event(s)
    /// (an Emergency item also ends the grantee's registration). Returns the item's struct hash.
    function _revokeItem(address patient, RevokeItem calldata item) private returns (bytes32 itemHash) {
        address grantee = item.grantee;
        bytes32 scope = item.scope;
        uint8 purpose = item.purpose;
        uint32 version = item.version;
        _checkRevocable(grantee, scope, purpose);
        uint256 slot = _slot(patient, grantee, scope, purpose);
        uint256 packed = _load(slot);
        _checkVersion(packed, version);
        if (purpose == PURPOSE_EMERGENCY) _revokeEmergency(patient, grantee, scope, slot, packed);
        else _revoke(slot, packed, patient, grantee, scope, purpose);
        bytes32 typehash = REVOKE_ITEM_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), item, 0x80)
            itemHash := keccak256(m, 0xa0)
        }
    }

    /// @dev Reverts InvalidSignature unless (v, r, s) over the EIP-712 digest of `structHash`
    /// recovers to `patient`. OZ ECDSA rejects high-s (malleable) signatures, v not in {27, 28}
    /// and a zero signer, so patient == address(0) can never pass.
    function _checkSigner(address patient, bytes32 structHash, uint8 v, bytes32 r, bytes32 s) private view {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(_hashTypedDataV4(structHash), v, r, s);
        if (err != ECDSA.RecoverError.NoError || signer != patient) revert InvalidSignature();
    }
}
