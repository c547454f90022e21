use sea_orm::entity::prelude::*;

/// A provider connection. Holds non-secret settings only.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// kubernetes, aws, gcp or azure.
    pub provider: String,
    pub runner_id: Option<String>,
    /// The kubeconfig context on the runner (Kubernetes).
    pub kube_context: Option<String>,
    /// Non-secret provider settings, a JSON object of strings (see `check_settings`).
    pub settings: String,
    /// Secret references, a JSON object: setting key → the org's secret name (see
    /// `allowed_secret_refs`). The runner fetches the values with its own API key.
    pub secret_refs: String,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
