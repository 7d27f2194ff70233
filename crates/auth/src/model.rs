//! Principals, roles and actions.

use std::fmt;
use std::str::FromStr;

/// A role. Roles are coarse on purpose: per-job access lists (filled by the
/// provisioner's `updateacl`) refine them per resource, never widen them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything, tokens and the audit trail included.
    Admin,
    /// Jobs, triggers and runs: create, change, fire, pause, kill.
    Operator,
    /// The Witboost Specific Provisioner endpoints.
    Provisioner,
    /// Read only.
    Viewer,
    /// A clean room's members and users: the clean-room endpoints, where the handler then
    /// requires a member's signed request or a user of that clean room.
    CleanRoom,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 5] = [Role::Admin, Role::Operator, Role::Provisioner, Role::Viewer, Role::CleanRoom];

    /// The role's name as written in configuration, tokens and claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Provisioner => "provisioner",
            Role::Viewer => "viewer",
            Role::CleanRoom => "cleanroom",
        }
    }

    /// Whether this role may perform `action`. The one table of the model.
    pub fn permits(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Operator => matches!(action, Action::Read | Action::Operate),
            Role::Provisioner => matches!(action, Action::Provision),
            Role::Viewer => matches!(action, Action::Read),
            Role::CleanRoom => matches!(action, Action::Govern),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use one of admin, operator, provisioner, viewer, cleanroom"))
    }
}

/// A set of roles (a principal from a JWT may have several).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RoleSet(u8);

impl RoleSet {
    /// The empty set: authenticated, but allowed nothing.
    pub const EMPTY: RoleSet = RoleSet(0);

    /// A set of one role.
    pub fn of(role: Role) -> RoleSet {
        RoleSet::EMPTY.with(role)
    }

    /// This set with `role` added.
    pub fn with(self, role: Role) -> RoleSet {
        RoleSet(self.0 | 1 << role as u8)
    }

    /// Whether `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & (1 << role as u8) != 0
    }

    /// Whether the set holds no role.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles, most powerful first.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// Whether any role in the set permits `action`.
    pub fn permits(self, action: Action) -> bool {
        self.iter().any(|r| r.permits(action))
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        iter.into_iter().fold(RoleSet::EMPTY, RoleSet::with)
    }
}

impl fmt::Debug for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// What a request wants to do. Every route names exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read jobs, triggers, runs, instances.
    Read,
    /// Change jobs, triggers and runs (create, replace, delete, fire, pause, kill).
    Operate,
    /// The Witboost provisioner endpoints.
    Provision,
    /// Tokens, the audit trail, and jobs of the `command` kind (a program on the server).
    Administer,
    /// The clean-room endpoints (the handler checks the member's signature or the user's place
    /// in the clean room).
    Govern,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [Action::Read, Action::Operate, Action::Provision, Action::Administer, Action::Govern];

    /// The action's name, as the API reports it (`GET /v1/auth/whoami`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Operate => "operate",
            Action::Provision => "provision",
            Action::Administer => "administer",
            Action::Govern => "govern",
        }
    }

    /// The least role that permits this action, for messages.
    pub fn needed_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Operate => Role::Operator,
            Action::Provision => Role::Provisioner,
            Action::Administer => Role::Admin,
            Action::Govern => Role::CleanRoom,
        }
    }
}

/// How a principal proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// An API token (`consort tokens create`); its id, never its secret.
    ApiToken {
        /// The token's public id.
        id: String,
    },
    /// A JWT bearer token from a configured OpenID issuer.
    Jwt {
        /// The `iss` claim.
        issuer: String,
    },
    /// A TLS client certificate verified against the configured CA.
    ClientCertificate,
    /// A user credential a clean room's member signed (`ccu_…`): it reaches only that
    /// clean room's user routes (the server's security layer scopes it).
    UserCredential {
        /// The clean room.
        cleanroom: String,
        /// The user id in it.
        user: String,
        /// The member who issued it.
        member: String,
        /// The credential's id (what a revocation names).
        id: String,
    },
    /// Authentication is off (`auth.mode = "none"`, loopback only).
    Unauthenticated,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Who: the token's name, the JWT's subject, the certificate's subject.
    pub name: String,
    /// What it may do.
    pub roles: RoleSet,
    /// How it authenticated.
    pub method: Method,
    /// The groups it belongs to, from a JWT's `groups` claim (empty for API tokens and
    /// certificates). They grant no role; handlers match them against per-resource access
    /// lists (`group:finance`).
    pub groups: Vec<String>,
}

impl Principal {
    /// Whether this principal may perform `action`.
    pub fn may(&self, action: Action) -> bool {
        self.roles.permits(action)
    }

    /// Whether an access list (`user:NAME`, `group:NAME` entries) names this principal: by
    /// its name, or by one of its [`groups`](Principal::groups). Other entries never match.
    pub fn is_listed_in<'a>(&self, acl: impl IntoIterator<Item = &'a str>) -> bool {
        acl.into_iter().any(|entry| match entry.split_once(':') {
            Some(("user", name)) => !name.is_empty() && name == self.name,
            Some(("group", group)) => !group.is_empty() && self.groups.iter().any(|g| g == group),
            _ => false,
        })
    }

    /// How the audit trail and logs name this principal: `token:NAME`, `jwt:SUB`, `cert:SUBJECT`.
    pub fn display_name(&self) -> String {
        match &self.method {
            Method::ApiToken { .. } => format!("token:{}", self.name),
            Method::Jwt { .. } => format!("jwt:{}", self.name),
            Method::ClientCertificate => format!("cert:{}", self.name),
            Method::UserCredential { cleanroom, user, .. } => format!("credential:{cleanroom}/{user}"),
            Method::Unauthenticated => "anonymous".into(),
        }
    }
}

/// Why a request was not authenticated. Messages say what to do; none repeats
/// the credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential at all.
    #[error(
        "this route needs a credential: send `Authorization: Bearer TOKEN` with an API token (`consort tokens create`) or a JWT from a configured issuer"
    )]
    Missing,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer TOKEN` (one space, no quotes); {0}")]
    Malformed(&'static str),
    /// An API token this server does not know.
    #[error("unknown API token: check it was copied whole, or create one with `consort tokens create`")]
    UnknownToken,
    /// A revoked API token.
    #[error("this API token was revoked: ask an admin for a new one (`consort tokens create`)")]
    Revoked,
    /// An expired API token.
    #[error("this API token expired: ask an admin for a new one (`consort tokens create --expires-in ...`)")]
    Expired,
    /// A JWT that failed validation; the reason names the claim or header at fault.
    #[error("the bearer JWT was refused: {0}")]
    InvalidJwt(String),
    /// A member-issued user credential that was refused; `code` says why (`credential_expired`,
    /// `credential_revoked`, `bad_signature`, `member_inactive`, …).
    #[error("the user credential was refused: {message}")]
    Credential {
        /// The stable code.
        code: &'static str,
        /// What was wrong and how to get a valid one.
        message: String,
    },
    /// The credential could not be checked right now (the store or the issuer is down).
    #[error("the credential could not be checked right now ({0}); retry shortly")]
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_list_names_a_principal_by_user_or_group() {
        let alice = Principal {
            name: "alice".into(),
            roles: RoleSet::EMPTY,
            method: Method::Jwt { issuer: "https://login.example.com".into() },
            groups: vec!["finance".into(), "eu".into()],
        };
        assert!(alice.is_listed_in(["user:alice"]));
        assert!(alice.is_listed_in(["user:bob", "group:eu"]));
        assert!(!alice.is_listed_in(["user:bob", "group:sales"]));
        // Exact matches only: no prefixes, no bare names, no empty entries.
        for acl in [&["user:ali"][..], &["alice"], &["group:"], &["user:"], &["role:alice"], &["group:finance-eu"]] {
            assert!(!alice.is_listed_in(acl.iter().copied()), "{acl:?}");
        }
        let token = Principal { groups: Vec::new(), method: Method::ApiToken { id: "t".into() }, ..alice };
        assert!(!token.is_listed_in(["group:finance"]), "an API token belongs to no group");
    }
}
