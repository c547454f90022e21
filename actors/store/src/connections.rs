//! Connections: creating one (its settings and secret references checked), finding, listing.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::{
    PROVIDERS, Result, Store, StoreError, check_secret_refs, check_settings, connection, new_id, snapshot::Change,
    validate_name,
};

/// What a new connection is made of.
#[derive(Debug, Default, Clone)]
pub struct NewConnection {
    pub name: String,
    pub provider: String,
    pub runner_id: Option<String>,
    pub kube_context: Option<String>,
    /// Non-secret settings (`check_settings`).
    pub settings: BTreeMap<String, String>,
    /// Setting key → the org's secret name (`check_secret_refs`); each secret must exist.
    pub secret_refs: BTreeMap<String, String>,
}

impl NewConnection {
    pub fn new(name: &str, provider: &str) -> Self {
        Self { name: name.into(), provider: provider.into(), ..Default::default() }
    }
}

impl Store {
    pub async fn create_connection(&self, org_id: &str, new: NewConnection) -> Result<connection::Model> {
        let NewConnection { name, provider, runner_id, kube_context, settings, secret_refs } = new;
        let (name, provider) = (name.as_str(), provider.as_str());
        validate_name("connection", name)?;
        if !PROVIDERS.contains(&provider) {
            return Err(StoreError::Invalid(format!(
                "unknown provider {provider:?}: use one of {}",
                PROVIDERS.join(", ")
            )));
        }
        check_settings(provider, &settings)?;
        check_secret_refs(provider, &secret_refs)?;
        if let Some(k) = secret_refs.keys().find(|k| settings.contains_key(*k)) {
            return Err(StoreError::Invalid(format!("{k} is given both as a setting and as a secret: pick one")));
        }
        let txn = self.write_txn().await?;
        for (setting, secret) in &secret_refs {
            if self.find_secret(&txn, org_id, secret).await?.is_none() {
                return Err(StoreError::Invalid(format!(
                    "setting {setting}: the org has no secret {secret:?} (an org admin creates it first)"
                )));
            }
        }
        let exists = connection::Entity::find()
            .filter(connection::Column::OrgId.eq(org_id))
            .filter(connection::Column::Name.eq(name))
            .one(&txn)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!("connection {name:?} already exists")));
        }
        let c = connection::ActiveModel {
            id: Set(new_id("conn")),
            org_id: Set(org_id.into()),
            name: Set(name.into()),
            provider: Set(provider.into()),
            runner_id: Set(runner_id),
            kube_context: Set(kube_context),
            settings: Set(serde_json::to_string(&settings).expect("json")),
            secret_refs: Set(serde_json::to_string(&secret_refs).expect("json")),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.changed(vec![Change::Connection(c.id.clone())]).await;
        Ok(c)
    }

    pub async fn find_connection(&self, org_id: &str, name: &str) -> Result<Option<connection::Model>> {
        Ok(connection::Entity::find()
            .filter(connection::Column::OrgId.eq(org_id))
            .filter(connection::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    pub async fn list_connections(&self, org_id: &str) -> Result<Vec<connection::Model>> {
        Ok(connection::Entity::find()
            .filter(connection::Column::OrgId.eq(org_id))
            .order_by_asc(connection::Column::Name)
            .all(&self.db)
            .await?)
    }
}
