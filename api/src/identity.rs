//! Who is calling (`whoami`), the console's session, and the runner builds on offer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub principal: PrincipalRef,
    pub org: OrgRef,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrincipalRef {
    pub id: String,
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub api_key: String,
}

/// Who is signed in to the console, where, and what they may do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsoleSession {
    pub principal: ConsolePrincipal,
    pub org: OrgRef,
    /// Sent back as `X-CSRF-Token` on every request that changes something.
    pub csrf: String,
    pub grants: Vec<ConsoleGrant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsolePrincipal {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub platform_operator: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsoleGrant {
    pub scope_kind: String,
    /// The scope by name (a resource's `org/env/Kind/name`), else its id.
    pub scope: String,
    pub scope_id: String,
    pub role: String,
}

/// The runner builds this control plane serves (`planton runner install`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerBuildList {
    /// The control plane's own version.
    pub current: String,
    pub builds: Vec<RunnerBuild>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerBuild {
    pub version: String,
    pub os: String,
    pub arch: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
    /// Where to download it.
    pub url: String,
}
