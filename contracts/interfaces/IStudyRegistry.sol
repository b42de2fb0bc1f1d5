// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IStudyRegistry
/// @notice Researchers register studies: the protocol's hash, the hash of the EthicsApprovalCredential of an IRB
/// accredited in the TrustRegistry, the data scopes requested, an end date and the study's X25519 encryption key.
/// The researcher or the approving IRB can close a study. Patients do not opt in here: an opt-in is a consent
/// grant (purpose Research) under a keyed `study:<id>` scope id on the ConsentRegistry, so the chain never lists
/// who takes part in which study.
interface IStudyRegistry {
    /// @notice What a researcher registers. The study's id is keccak256(abi.encode(researcher, salt)): nobody else
    /// can take it first by copying a pending registration. `scopes` are keccak256 hashes of the canonical scope strings the study
    /// asks for (`fhir:Observation`, `category:laboratory`, ...): public vocabulary, not a patient's data; sorted
    /// strictly ascending (no duplicates), so one request has one encoding.
    struct Registration {
        bytes32 salt;
        bytes32 protocolHash;
        bytes32 approvalHash;
        address irb;
        bytes32 encryptionKey;
        uint64 endsAt;
        bytes32[] scopes;
    }

    /// @notice A registered study as stored: who controls it, until when, and the hash of its details (the
    /// protocol, approval, key and scopes are in the StudyRegistered event; detailsHash binds them).
    struct Study {
        address researcher;
        uint64 endsAt;
        bool closed;
        address irb;
        uint64 registeredAt;
        bytes32 detailsHash;
    }

    event StudyRegistered(
        bytes32 indexed studyId,
        address indexed researcher,
        address indexed irb,
        bytes32 protocolHash,
        bytes32 approvalHash,
        bytes32 encryptionKey,
        uint64 endsAt,
        bytes32[] scopes
    );
    event StudyClosed(bytes32 indexed studyId, address indexed by, uint64 closedAt);

    error ZeroAddress();
    error StudyExists(bytes32 studyId);
    error UnknownStudy(bytes32 studyId);
    error ZeroHash();
    error ZeroKey();
    error InvalidScopes();
    error TooManyScopes(uint256 count, uint256 max);
    error EndNotInFuture(uint64 endsAt, uint64 nowTs);
    error EndTooFar(uint64 endsAt, uint64 latest);
    error IrbIsResearcher(address irb);
    error IrbNotTrusted(address irb);
    error NotStudyController(address caller);
    error StudyAlreadyClosed(bytes32 studyId);

    /// @notice Registers a study for msg.sender, who alone (with the IRB) may close it; returns its id.
    function register(Registration calldata registration) external returns (bytes32 studyId);

    /// @notice Closes a study for good (the researcher or the approving IRB).
    function close(bytes32 studyId) external;

    /// @notice The stored study; researcher == address(0) when no study has that id.
    function studyOf(bytes32 studyId) external view returns (Study memory);

    /// @notice Registered, not closed, not past its end date, and its IRB still accredited.
    function isOpen(bytes32 studyId) external view returns (bool);

    /// @notice The id a registration by `researcher` with `salt` gets.
    function studyIdOf(address researcher, bytes32 salt) external pure returns (bytes32);

    /// @notice keccak256(abi.encode(protocolHash, approvalHash, encryptionKey, scopes)): what detailsHash binds.
    function detailsHashOf(
        bytes32 protocolHash,
        bytes32 approvalHash,
        bytes32 encryptionKey,
        bytes32[] calldata scopes
    ) external pure returns (bytes32);
}
