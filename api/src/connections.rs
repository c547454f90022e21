//! Connections (a cloud account or cluster, served by a runner), their defaults, and the org's
//! secrets that connections reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub name: String,
    /// `kubernetes`, `aws`, `gcp` or `azure`.
    pub provider: String,
    /// The runner that serves it (by name); else the org's default runner.
    #[serde(default)]
    pub runner: Option<String>,
    /// The kubeconfig context the runner uses (kubernetes only).
    #[serde(default)]
    pub context: Option<String>,
    /// Non-secret provider settings (aws: profile, region, endpoint_url; gcp: project, zone,
    /// endpoint_url; azure: subscription, resource_group, account, endpoint_url).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Settings taken from the org's secrets: setting → secret name (aws: role_arn, external_id).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub provider: String,
    /// The runner's name, when one is bound.
    pub runner: Option<String>,
    /// The kubeconfig context (kubernetes).
    pub context: Option<String>,
    pub settings: BTreeMap<String, String>,
    /// Setting → the org secret it is read from.
    pub secrets: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

/// Where a default applies: the org (no env) or one env.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvBody {
    #[serde(default)]
    pub env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultConnectionSet {
    pub connection: String,
    pub provider: String,
    /// `org/<org>` or `env/<env>`.
    pub scope: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DefaultConnectionQuery {
    /// `kubernetes`, `aws`, `gcp` or `azure`.
    pub provider: String,
    #[serde(default)]
    pub env: Option<String>,
}

/// The effective default connection for a provider, with how it was found (env, then org).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultConnection {
    pub provider: String,
    pub connection: Option<String>,
    /// The level it came from: `env/<env>` or `org/<org>`.
    pub from: Option<String>,
    pub chain: Vec<DefaultConnectionLevel>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefaultConnectionLevel {
    pub level: String,
    pub connection: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The value, as text (a role ARN, an external id, a token). Never shown again.
    pub value: String,
}

/// A secret of the org, without its value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Secret {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The connections that reference it.
    pub used_by: Vec<String>,
}

/// What a runner reads, with its own key, for a connection it serves.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerSecretValues {
    pub connection: String,
    /// Setting → the secret's value.
    pub values: BTreeMap<String, String>,
}
