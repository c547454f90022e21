//! Runners: their registry entries, removal, and the org's and platform's default runner.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunnerQuery {
    /// Which runners a list shows: `org` (default), `all` or `platform`.
    #[serde(default)]
    pub scope: Option<String>,
    /// A platform runner rather than one of the org's.
    #[serde(default)]
    pub platform: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Runner {
    pub id: String,
    pub name: String,
    /// The org's name; null for a platform runner.
    pub org: Option<String>,
    pub platform: bool,
    /// Bumped by each credential regeneration; older credentials are refused.
    pub generation: i32,
    pub revoked: bool,
    /// Seen within the last 30 s.
    pub connected: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub version: Option<String>,
    /// SHA-256 of the tunnel certificate of the current generation.
    pub cert_fingerprint: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerDeleted {
    pub deleted: String,
    /// Tunnels of the runner cut on the hub.
    pub tunnels_cut: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRunnerBody {
    pub runner: String,
    /// The runner is a platform runner.
    #[serde(default)]
    pub platform: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultRunnerSet {
    pub runner: String,
    /// `platform` or `org/<org>`.
    pub scope: String,
}

/// The effective default runner, with how it was found (org, then platform).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultRunner {
    pub runner: Option<String>,
    pub from: Option<String>,
    pub chain: Vec<DefaultRunnerLevel>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultRunnerLevel {
    pub level: String,
    pub runner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultRunnerUnset {
    pub removed: bool,
}
