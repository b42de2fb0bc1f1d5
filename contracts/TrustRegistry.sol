// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ITrustRegistry} from "./interfaces/ITrustRegistry.sol";

/// @title TrustRegistry
/// @notice Governance (an Ownable2Step owner) accredits issuer addresses per role for a validity
/// window [validFrom, validUntil) and may revoke an accreditation early. Verifiers ask whether an
/// issuer was trusted at a credential's issuance time (isTrustedAt) and is trusted now (isTrusted).
/// @dev One packed slot per (issuer, role): validFrom | validUntil | revokedAt (3 x uint64).
/// A record with validUntil == 0 does not exist (accredit always stores validUntil > now > 0).
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

    mapping(address issuer => mapping(bytes32 role => Accreditation)) private _accreditations;

    /// @notice `governance` becomes the owner; it alone may accredit and revoke.
    /// @dev Reverts OwnableInvalidOwner(address(0)) when governance is the zero address.
    constructor(address governance) Ownable(governance) {}

    /// @inheritdoc ITrustRegistry
    /// @dev Any non-zero role is accepted (the named constants are the ones Hygeia uses).
    /// Reverts ZeroAddress, ZeroRole, InvalidWindow unless validUntil > validFrom and
    /// validUntil > block.timestamp. Clears any earlier revocation of the pair.
    function accredit(address issuer, bytes32 role, uint64 validFrom, uint64 validUntil) external onlyOwner {
        if (issuer == address(0)) revert ZeroAddress();
        if (role == 0) revert ZeroRole();
        if (validUntil <= validFrom || validUntil <= block.timestamp) revert InvalidWindow(validFrom, validUntil);
        _accreditations[issuer][role] = Accreditation(validFrom, validUntil, 0);
        emit IssuerAccredited(issuer, role, validFrom, validUntil);
    }

    /// @inheritdoc ITrustRegistry
    /// @dev NotAccredited when there is no record, it is already revoked, or it has already expired.
    /// A not-yet-valid (future) accreditation may be revoked: it then never becomes trusted.
    function revokeAccreditation(address issuer, bytes32 role) external onlyOwner {
        Accreditation storage a = _accreditations[issuer][role];
        if (a.validUntil <= block.timestamp || a.revokedAt != 0) revert NotAccredited(issuer, role);
        uint64 nowTs = uint64(block.timestamp);
        a.revokedAt = nowTs;
        emit AccreditationRevoked(issuer, role, nowTs);
    }

    /// @inheritdoc ITrustRegistry
    function isTrusted(address issuer, bytes32 role) external view returns (bool) {
        Accreditation memory a = _accreditations[issuer][role];
        return a.revokedAt == 0 && a.validFrom <= block.timestamp && block.timestamp < a.validUntil;
    }

    /// @inheritdoc ITrustRegistry
    function isTrustedAt(address issuer, bytes32 role, uint64 at) external view returns (bool) {
        Accreditation memory a = _accreditations[issuer][role];
        return a.validFrom <= at && at < a.validUntil && (a.revokedAt == 0 || at < a.revokedAt);
    }

    /// @inheritdoc ITrustRegistry
    function accreditationOf(
        address issuer,
        bytes32 role
    ) external view returns (uint64 validFrom, uint64 validUntil, uint64 revokedAt) {
        Accreditation memory a = _accreditations[issuer][role];
        return (a.validFrom, a.validUntil, a.revokedAt);
    }
}
