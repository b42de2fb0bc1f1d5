// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title ITrustRegistry
/// @notice Governance accredits issuer addresses per role (medical board, IRB, insurer,
/// identity issuer) for a validity window; verifiers ask whether an issuer was trusted
/// at a credential's issuance time and is trusted now.
interface ITrustRegistry {
    event IssuerAccredited(address indexed issuer, bytes32 indexed role, uint64 validFrom, uint64 validUntil);
    event AccreditationRevoked(address indexed issuer, bytes32 indexed role, uint64 revokedAt);

    error ZeroAddress();
    error ZeroRole();
    error InvalidWindow(uint64 validFrom, uint64 validUntil);
    error NotAccredited(address issuer, bytes32 role);

    /// @notice Governance only. Overwrites any earlier accreditation of (issuer, role).
    function accredit(address issuer, bytes32 role, uint64 validFrom, uint64 validUntil) external;

    /// @notice Governance only. Ends the accreditation now; reverts NotAccredited if none is active.
    function revokeAccreditation(address issuer, bytes32 role) external;

    /// @notice validFrom <= now < validUntil and not revoked.
    function isTrusted(address issuer, bytes32 role) external view returns (bool);

    /// @notice validFrom <= at < validUntil and (not revoked or at < revokedAt).
    function isTrustedAt(address issuer, bytes32 role, uint64 at) external view returns (bool);

    function accreditationOf(
        address issuer,
        bytes32 role
    ) external view returns (uint64 validFrom, uint64 validUntil, uint64 revokedAt);
}
