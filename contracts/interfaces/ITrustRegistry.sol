// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title ITrustRegistry
/// @notice Governance accredits issuer addresses per role (medical board, clinic, IRB, insurer,
/// identity issuer) for validity windows; verifiers ask whether an issuer was trusted at a
/// credential's issuance time and is trusted now.
/// @dev History is kept: each accreditation appends a window, a revocation ends the open ones, and
/// no later accreditation can make a time at which the issuer was revoked trusted again.
interface ITrustRegistry {
    event IssuerAccredited(address indexed issuer, bytes32 indexed role, uint64 validFrom, uint64 validUntil);
    event AccreditationRevoked(address indexed issuer, bytes32 indexed role, uint64 revokedAt);

    error ZeroAddress();
    error ZeroRole();
    error InvalidWindow(uint64 validFrom, uint64 validUntil);
    error NotAccredited(address issuer, bytes32 role);
    error WindowOverlapsHistory(uint64 validFrom, uint64 earliestAllowed);
    error NoSuchWindow(uint256 index);
    error RenounceOwnershipDisabled();

    /// @notice Governance only. Appends the window [validFrom, validUntil) to the pair's history. It may
    /// not start before the previous window's validUntil, nor, once any window of the pair was revoked,
    /// before now: a revoked period is never made trusted again, and past windows stay as they were.
    function accredit(address issuer, bytes32 role, uint64 validFrom, uint64 validUntil) external;

    /// @notice Governance only. Ends every current and future window of the pair now; reverts
    /// NotAccredited if there is none.
    function revokeAccreditation(address issuer, bytes32 role) external;

    /// @notice True when some window has validFrom <= now < validUntil and was not revoked by now.
    function isTrusted(address issuer, bytes32 role) external view returns (bool);

    /// @notice True when some window has validFrom <= at < validUntil and (not revoked or at < revokedAt).
    function isTrustedAt(address issuer, bytes32 role, uint64 at) external view returns (bool);

    /// @notice The pair's latest window (all zero when it was never accredited).
    function accreditationOf(
        address issuer,
        bytes32 role
    ) external view returns (uint64 validFrom, uint64 validUntil, uint64 revokedAt);

    /// @notice How many windows the pair's history holds.
    function accreditationCount(address issuer, bytes32 role) external view returns (uint256);

    /// @notice Window `index` (0 = oldest) of the pair's history; reverts NoSuchWindow past the end.
    function accreditationAt(
        address issuer,
        bytes32 role,
        uint256 index
    ) external view returns (uint64 validFrom, uint64 validUntil, uint64 revokedAt);
}
