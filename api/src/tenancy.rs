//! Orgs, environments, principals, API keys and grants.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use chrono::{DateTime, Utc};

/// A body with one name: a new org or environment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Env {
    pub id: String,
    pub name: String,
    /// The org's name.
    pub org: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalBody {
    pub name: String,
    /// `user` (default) or `service-account`.
    #[serde(default = "user")]
    pub kind: String,
}

fn user() -> String {
    "user".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    pub id: String,
    pub name: String,
    /// `user`, `service_account`, or `group` (an identity-provider group holding grants).
    pub kind: String,
    pub platform_operator: bool,
    pub created_at: DateTime<Utc>,
}

/// The answer to creating a principal (a new principal is never a platform operator).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrincipalCreated {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
}

/// A new API key, for the caller or (admins) for a principal they may manage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    #[serde(default)]
    pub principal: Option<String>,
}

/// Whose keys or grants: the caller's by default, or a named principal's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrincipalQuery {
    #[serde(default)]
    pub principal: Option<String>,
}

/// A key as it is created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: String,
    /// The key itself. It is stored hashed and never shown again.
    pub key: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyRevoked {
    pub id: String,
    pub prefix: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The principal's name; or set `group`.
    #[serde(default)]
    pub principal: Option<String>,
    /// An identity-provider group, as its tokens list it: the grant applies to every member
    /// at their sign-in.
    #[serde(default)]
    pub group: Option<String>,
    /// `org`, `env`, `connection` or `resource`.
    pub scope: String,
    /// The env name, connection name or resource path (`org/env/Kind/name`); empty for the org.
    #[serde(default)]
    pub target: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// The answer to creating a grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantCreated {
    pub id: String,
    /// The principal's (or the group's) name.
    pub principal: String,
    /// `user`, `service_account` or `group`.
    pub principal_kind: String,
    /// The scope as people write it: `org/acme`, `env/prod`, `connection/x`, `resource/o/e/K/n`.
    pub scope: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    pub id: String,
    /// The principal's (or the group's) name (empty when the principal is gone).
    pub principal: String,
    /// `user`, `service_account` or `group`.
    pub principal_kind: String,
    /// The scope's kind: `org`, `env`, `connection` or `resource`.
    pub scope: String,
    /// The scope by name (a resource's `org/env/Kind/name`), else its id.
    pub target: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}
