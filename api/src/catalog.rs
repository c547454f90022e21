//! The catalog: cloud resources `org/env/Kind/name`, each naming a connection and a namespace.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use chrono::{DateTime, Utc};

/// A catalog entry as applied (`planton apply -f`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub kind: String,
    pub metadata: ManifestMetadata,
    pub spec: ResourceSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestMetadata {
    /// Must be the org of the path when given.
    #[serde(default)]
    pub org: Option<String>,
    pub env: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// The connection's name.
    pub connection: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceMetadata {
    pub org: String,
    pub env: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CloudResource {
    /// `org/env/Kind/name`.
    pub path: String,
    pub kind: String,
    pub metadata: ResourceMetadata,
    pub spec: ResourceSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer to an apply: the entry, and whether it was `created` or `configured`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppliedResource {
    #[serde(flatten)]
    pub resource: CloudResource,
    pub result: String,
}

/// The answer to an apply with `dry_run`: the path, and `valid (dry run)`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceDryRun {
    pub path: String,
    pub result: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DryRunQuery {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnvQuery {
    #[serde(default)]
    pub env: Option<String>,
}
