//! Why a governance request was refused. Each refusal has a stable code (for the API and the
//! ledger entry that records it) and a message that names the problem and the fix.

use consort_scheduler::StoreError;

/// A refused or failed governance request.
#[derive(Debug, thiserror::Error)]
pub enum GovError {
    /// A field is malformed or not applicable.
    #[error("{field}: {problem}; {fix}")]
    Invalid {
        /// The field, as a dot path of the request.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// The request is not a valid signed governance request.
    #[error("the request is not a valid signed governance request: {0}")]
    BadRequestSignature(String),
    /// The signed request is too old or from the future.
    #[error("{0}")]
    Stale(String),
    /// The same signed request was sent before.
    #[error("this exact signed request was already received: sign a new one (each request is accepted once)")]
    Replayed,
    /// No member has this id.
    #[error("{member:?} is not a member of this clean room: ask the members to propose adding it")]
    NotAMember {
        /// The id.
        member: String,
    },
    /// The member was removed.
    #[error(
        "member {member:?} is not active (it was removed, or never activated): only active members propose and vote"
    )]
    MemberInactive {
        /// The id.
        member: String,
    },
    /// The caller is not a user of this clean room.
    #[error("{principal:?} is not a user of this clean room: ask its members to propose adding the user")]
    NotAUser {
        /// The authenticated principal.
        principal: String,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// Why.
        message: String,
    },
    /// The proposal no longer takes ballots.
    #[error("proposal {proposal} is {state}: only open proposals take ballots or withdrawals")]
    ProposalNotOpen {
        /// The proposal.
        proposal: String,
        /// Its state.
        state: &'static str,
    },
    /// A ballot was already cast.
    #[error("{voter:?} already voted on {on}: ballots are final")]
    AlreadyVoted {
        /// Who.
        voter: String,
        /// The proposal or document.
        on: String,
    },
    /// Removing every member is refused.
    #[error("the proposal would leave the clean room without an active member: keep at least one")]
    LastMember,
    /// Something does not exist.
    #[error("no {what} {id:?} in this clean room{hint}")]
    NotFound {
        /// The kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
        /// How to find the right one.
        hint: &'static str,
    },
    /// The object is accepted (immutable) or under a proposal.
    #[error("{what} {id:?} is {state}: {fix}")]
    Immutable {
        /// The kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
        /// Its state.
        state: String,
        /// What to do instead.
        fix: &'static str,
    },
    /// Optimistic concurrency: the caller's version is not the current one.
    #[error(
        "{what} {id:?} is at version {current}, not {given}: read it again and apply your change to version {current}"
    )]
    VersionMismatch {
        /// The kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
        /// The version the caller based its change on.
        given: i64,
        /// The stored version.
        current: i64,
    },
    /// The clean room exists already.
    #[error("a clean room named {0:?} exists already: pick another name")]
    CleanRoomExists(String),
    /// No such clean room.
    #[error("no clean room named {0:?}: `consort cleanroom list` shows them")]
    NoSuchCleanRoom(String),
    /// The request kept conflicting with concurrent ones.
    #[error("the clean room changed under this request {0} times in a row: retry it")]
    Busy(u32),
    /// A stored value cannot be read back.
    #[error("stored {what} {key:?} cannot be read ({message}): it was written by a newer consort or damaged")]
    Corrupt {
        /// The kind of thing.
        what: &'static str,
        /// Its key.
        key: String,
        /// The decoding error.
        message: String,
    },
    /// An attested caller's evidence, policy match or key binding was refused.
    #[error("{message}")]
    Attestation {
        /// `attestation_required`, `attestation_invalid`, `measurement_not_allowed`,
        /// `report_data_mismatch`, `wrong_run` or `invalid_key`.
        code: &'static str,
        /// What was wrong and how to fix it.
        message: String,
    },
    /// Consent needed for a release is off.
    #[error("{message}")]
    ConsentWithdrawn {
        /// Which subject and who has it off.
        message: String,
    },
    /// A step of the run checklist, or of a runner's session, refused the run.
    #[error("{message}")]
    RunRefused {
        /// The step's code: `query_not_accepted`, `approval_missing`, `prepare_stale`, ….
        code: &'static str,
        /// The checklist step (`authorise`, `accepted`, `approvals`, `locations`, `run_policy`, …).
        step: &'static str,
        /// What is missing and how to get it.
        message: String,
    },
    /// A member-issued user credential was refused (malformed, bad signature, expired, too
    /// long-lived, revoked, its user removed, or used outside its clean room).
    #[error("{message}")]
    Credential {
        /// `credential_malformed`, `bad_signature`, `credential_expired`, `credential_lifetime`,
        /// `credential_revoked`, `user_inactive` or `credential_scope`.
        code: &'static str,
        /// What was wrong and how to get a valid credential.
        message: String,
    },
    /// An invitation cannot be accepted.
    #[error("{message}")]
    Invitation {
        /// `invitation_not_yours`, `invitation_used`, `invitation_expired` or
        /// `invitation_not_accepted` (its proposal is still open).
        code: &'static str,
        /// Why, and what to do.
        message: String,
    },
    /// Sealing, opening or signing failed on the server's side (a key provider problem).
    #[error("the clean room's keys: {0}")]
    Keys(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::store::CommitError> for GovError {
    /// A commit's failure as the caller's answer. A conflict reaching here was not decided
    /// again by its caller: the request is answered `Busy` (retry it).
    fn from(e: crate::store::CommitError) -> Self {
        use crate::store::CommitError as C;
        match e {
            C::Conflict { .. } => GovError::Busy(1),
            C::NoSuchCleanRoom(name) => GovError::NoSuchCleanRoom(name),
            C::Store(e) => GovError::Store(e),
        }
    }
}

impl From<consort_attest::AttestError> for GovError {
    fn from(e: consort_attest::AttestError) -> Self {
        use consort_attest::AttestError as A;
        let code = match &e {
            A::MissingEvidence => "attestation_required",
            A::MalformedEvidence { .. } | A::BadSignature { .. } | A::UntrustedChain { .. } | A::Stale { .. } => {
                "attestation_invalid"
            }
            A::TcbMismatch { .. } | A::CrlUnusable { .. } => "attestation_invalid",
            A::Revoked { .. } => "attestation_revoked",
            A::CrlStale { .. } => "attestation_crl_stale",
            A::MeasurementNotAllowed { .. } | A::HostDataNotAllowed { .. } | A::DebugNotAllowed => {
                "measurement_not_allowed"
            }
            A::PolicyNotMet { .. } => "attestation_policy_not_met",
            A::ReportDataMismatch => "report_data_mismatch",
            A::WrongRun { .. } => "wrong_run",
            A::InvalidKey { .. } => "invalid_key",
            _ => return GovError::Keys(e.to_string()),
        };
        GovError::Attestation { code, message: e.to_string() }
    }
}

impl GovError {
    /// An `Invalid` error.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        GovError::Invalid { field: field.into(), problem: problem.into(), fix: fix.into() }
    }

    /// The refusal's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            GovError::Invalid { .. } => "invalid_request",
            GovError::BadRequestSignature(_) => "bad_signature",
            GovError::Stale(_) => "stale_request",
            GovError::Replayed => "replayed_request",
            GovError::NotAMember { .. } => "not_a_member",
            GovError::MemberInactive { .. } => "member_inactive",
            GovError::NotAUser { .. } => "not_a_user",
            GovError::Forbidden { .. } => "forbidden",
            GovError::ProposalNotOpen { .. } => "proposal_not_open",
            GovError::AlreadyVoted { .. } => "already_voted",
            GovError::LastMember => "last_member",
            GovError::NotFound { .. } => "not_found",
            GovError::Immutable { .. } => "immutable",
            GovError::VersionMismatch { .. } => "version_mismatch",
            GovError::CleanRoomExists(_) => "clean_room_exists",
            GovError::NoSuchCleanRoom(_) => "no_such_clean_room",
            GovError::Busy(_) => "busy",
            GovError::Corrupt { .. } => "corrupt",
            GovError::Attestation { code, .. } => code,
            GovError::ConsentWithdrawn { .. } => "consent_withdrawn",
            GovError::RunRefused { code, .. } => code,
            GovError::Credential { code, .. } | GovError::Invitation { code, .. } => code,
            GovError::Keys(_) => "keys",
            GovError::Store(_) => "store_error",
        }
    }

    /// Whether the caller is at fault (a refusal) rather than the server (a failure).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, GovError::Busy(_) | GovError::Corrupt { .. } | GovError::Keys(_) | GovError::Store(_))
    }
}
