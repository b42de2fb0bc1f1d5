// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ITrustRegistry} from "./interfaces/ITrustRegistry.sol";

/// @title TrustRegistry
/// @notice Governance (an Ownable2Step owner) accredits issuer addresses per role for validity
/// windows [validFrom, validUntil) and may revoke an accreditation early. Verifiers ask whether an
/// issuer was trusted at a credential's issuance time (isTrustedAt) and is trusted now (isTrusted).
/// @dev Per (issuer, role), an append-only list of windows: validFrom | validUntil | revokedAt
/// (3 x uint64, one slot each). A window never changes once appended except that a revocation sets
/// its revokedAt. Rules that keep history true: a new window starts no earlier than the previous
/// window's validUntil, and, once any window of the pair was revoked, no earlier than now (no
/// backdating into a gap that may lie inside a revoked period). So credentials
/// issued in an old window stay trusted at issuance after a re-accreditation, and no time at which
/// the issuer was revoked (for example, compromised) ever becomes trusted. Views loop over the pair's
/// windows; governance appends one per accredit call, so the loops stay short.
contract TrustRegistry is ITrustRegistry, Ownable2Step {
    /// @notice Role of medical boards (accredit clinics and clinicians).
    bytes32 public constant MEDICAL_BOARD = keccak256("hygeia.role.medical-board");
    /// @notice Role of clinics (issue health-record credentials). Separate from MEDICAL_BOARD so that a
    /// clinic cannot accredit another clinic.
    bytes32 public constant CLINIC = keccak256("hygeia.role.clinic");
    /// @notice Role of institutional review boards (approve studies).
    bytes32 public constant IRB = keccak256("hygeia.role.irb");
    /// @notice Role of insurers.
    bytes32 public constant INSURER = keccak256("hygeia.role.insurer");
    /// @notice Role of identity issuers (KYC / identity credentials).
    bytes32 public constant IDENTITY_ISSUER = keccak256("hygeia.role.identity-issuer");

    struct Accreditation {
        uint64 validFrom;
        uint64 validUntil;
        uint64 revokedAt; // 0 = not revoked
    }

    mapping(address issuer => mapping(bytes32 role => Accreditation[])) private _history;

    /// @notice `governance` becomes the owner; it alone may accredit and revoke.
    /// @dev Reverts OwnableInvalidOwner(address(0)) when governance is the zero address.
    constructor(address governance) Ownable(governance) {}

    /// @inheritdoc ITrustRegistry
    /// @dev Any non-zero role is accepted (the named constants are the ones Hygeia uses). Reverts, in
    /// this order: ZeroAddress, ZeroRole, InvalidWindow (unless validUntil > validFrom and
    /// validUntil > block.timestamp), WindowOverlapsHistory (the rule above; renewing an open window
    /// is a new window starting at its validUntil, which a revoked window never needs: it was ended).
    function accredit(address issuer, bytes32 role, uint64 validFrom, uint64 validUntil) external onlyOwner {
        if (issuer == address(0)) revert ZeroAddress();
        if (role == 0) revert ZeroRole();
        if (validUntil <= validFrom || validUntil <= block.timestamp) revert InvalidWindow(validFrom, validUntil);
        Accreditation[] storage history = _history[issuer][role];
        uint256 n = history.length;
        if (n != 0) {
            Accreditation storage last = history[n - 1];
            uint64 earliest = last.revokedAt != 0 ? uint64(block.timestamp) : last.validUntil;
            // Once the pair has been revoked, nothing may be backdated: any gap left before now (even
            // after a later, short window) may lie inside a revoked period.
            if (earliest < block.timestamp && _everRevoked(history)) earliest = uint64(block.timestamp);
            if (validFrom < earliest) revert WindowOverlapsHistory(validFrom, earliest);
        }
        history.push(Accreditation(validFrom, validUntil, 0));
        emit IssuerAccredited(issuer, role, validFrom, validUntil);
    }

    /// @inheritdoc ITrustRegistry
    /// @dev NotAccredited when no window is current or future (none recorded, all expired or revoked).
    /// A not-yet-valid (future) window is revoked too: it then never becomes trusted.
    function revokeAccreditation(address issuer, bytes32 role) external onlyOwner {
        Accreditation[] storage history = _history[issuer][role];
        uint64 nowTs = uint64(block.timestamp);
        bool revoked;
        for (uint256 i = history.length; i > 0; i--) {
            Accreditation storage a = history[i - 1];
            if (a.revokedAt == 0 && a.validUntil > nowTs) {
                a.revokedAt = nowTs;
                revoked = true;
            }
        }
        if (!revoked) revert NotAccredited(issuer, role);
        emit AccreditationRevoked(issuer, role, nowTs);
    }

    /// @notice Disabled: without an owner nobody could revoke a compromised issuer's accreditation, and
    /// verifiers would go on trusting it. Governance hands over with transferOwnership + acceptOwnership.
    function renounceOwnership() public pure override {
        revert RenounceOwnershipDisabled();
    }

    /// @inheritdoc ITrustRegistry
    function isTrusted(address issuer, bytes32 role) external view returns (bool) {
        return _trustedAt(issuer, role, uint64(block.timestamp));
    }

    /// @inheritdoc ITrustRegistry
    function isTrustedAt(address issuer, bytes32 role, uint64 at) external view returns (bool) {
        return _trustedAt(issuer, role, at);
    }

    /// @inheritdoc ITrustRegistry
    function accreditationOf(
        address issuer,
        bytes32 role
    ) external view returns (uint64 validFrom, uint64 validUntil, uint64 revokedAt) {
        Accreditation[] storage history = _history[issuer][role];
        if (history.length == 0) return (0, 0, 0);
        Accreditation storage a = history[history.length - 1];
        return (a.validFrom, a.validUntil, a.revokedAt);
    }

    /// @inheritdoc ITrustRegistry
    function accreditationCount(address issuer, bytes32 role) external view returns (uint256) {
        return _history[issuer][role].length;
    }

    /// @inheritdoc ITrustRegistry
    function accreditationAt(
        address issuer,
        bytes32 role,
        uint256 index
    ) external view returns (uint64 validFrom, uint64 validUntil, uint64 revokedAt) {
        Accreditation[] storage history = _history[issuer][role];
        if (index >= history.length) revert NoSuchWindow(index);
        Accreditation storage a = history[index];
        return (a.validFrom, a.validUntil, a.revokedAt);
    }

    /// @dev Whether any window of the history was revoked.
    function _everRevoked(Accreditation[] storage history) private view returns (bool) {
        for (uint256 i = history.length; i > 0; i--) if (history[i - 1].revokedAt != 0) return true;
        return false;
    }

    /// @dev Some window trusts `at`: validFrom <= at < validUntil and not revoked at or before `at`.
    function _trustedAt(address issuer, bytes32 role, uint64 at) private view returns (bool) {
        Accreditation[] storage history = _history[issuer][role];
        for (uint256 i = history.length; i > 0; i--) {
            Accreditation storage a = history[i - 1];
            if (a.validFrom <= at && at < a.validUntil && (a.revokedAt == 0 || at < a.revokedAt)) return true;
        }
        return false;
    }
}
