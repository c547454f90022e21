//! Orgs, environments, principals, API keys, grants, the catalog, defaults, runner lifecycle.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, ModelTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::{
    Change, MintedKey, Result, Role, Store, StoreError, api_key, audit, cloud_resource, connection, default_connection,
    default_runner, environment, grant, grant_in, mint_key_in, new_id, org, principal, runner, validate_name,
};

/// Catalog kinds a manifest may use.
pub const RESOURCE_KINDS: [&str; 6] = [
    "KubernetesDeployment",
    "KubernetesStatefulSet",
    "KubernetesDaemonSet",
    "KubernetesCronJob",
    "KubernetesJob",
    "KubernetesNamespace",
];

pub const SCOPE_KINDS: [&str; 4] = ["org", "env", "resource", "connection"];

pub(crate) fn not_found(what: &'static str, name: impl Into<String>) -> StoreError {
    StoreError::NotFound { what, name: name.into() }
}

/// Checks a catalog entry's kind, name and namespace without writing anything.
pub fn check_resource(kind: &str, name: &str, namespace: &str) -> Result<()> {
    if !RESOURCE_KINDS.contains(&kind) {
        return Err(StoreError::Invalid(format!("unknown kind {kind:?}: use one of {}", RESOURCE_KINDS.join(", "))));
    }
    validate_name("resource", name)?;
    validate_name("namespace", namespace)
}

/// Filters for `audit list`.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub since: Option<chrono::DateTime<Utc>>,
    pub principal: Option<String>,
    pub decision: Option<String>,
    pub limit: u64,
}

impl Store {
    // ------------------------------------------------------------------ orgs and envs

    /// Creates an org; its creator becomes its admin.
    pub async fn create_org(&self, name: &str, creator: &str) -> Result<org::Model> {
        validate_name("org", name)?;
        if org::Entity::find().filter(org::Column::Name.eq(name)).one(&self.db).await?.is_some() {
            return Err(StoreError::Conflict(format!("org {name:?} already exists")));
        }
        let txn = self.write_txn().await?;
        let o = org::ActiveModel { id: Set(new_id("org")), name: Set(name.into()), created_at: Set(Utc::now()) }
            .insert(&txn)
            .await?;
        grant_in(&txn, creator, "org", &o.id, Role::Admin).await?;
        txn.commit().await?;
        self.changed(vec![Change::Org(o.id.clone()), Change::Principal(creator.into())]).await;
        Ok(o)
    }

    /// The orgs a principal can see: its own and those it holds a grant in (all for a platform
    /// operator).
    pub async fn orgs_for(
        &self,
        principal_id: &str,
        home_org: &str,
        platform_operator: bool,
    ) -> Result<Vec<org::Model>> {
        let all = org::Entity::find().order_by_asc(org::Column::Name).all(&self.db).await?;
        if platform_operator {
            return Ok(all);
        }
        let grants = self.grants_of(principal_id).await?;
        let envs = environment::Entity::find().all(&self.db).await?;
        Ok(all
            .into_iter()
            .filter(|o| {
                o.id == home_org
                    || grants.iter().any(|g| {
                        (g.scope_kind == "org" && g.scope_id == o.id)
                            || (g.scope_kind == "env" && envs.iter().any(|e| e.id == g.scope_id && e.org_id == o.id))
                    })
            })
            .collect())
    }

    pub async fn create_env(&self, org_id: &str, name: &str) -> Result<environment::Model> {
        validate_name("environment", name)?;
        if self.find_env(org_id, name).await?.is_some() {
            return Err(StoreError::Conflict(format!("environment {name:?} already exists")));
        }
        let e = environment::ActiveModel {
            id: Set(new_id("env")),
            org_id: Set(org_id.into()),
            name: Set(name.into()),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await?;
        self.changed(vec![Change::Env(e.id.clone())]).await;
        Ok(e)
    }

    pub async fn find_env(&self, org_id: &str, name: &str) -> Result<Option<environment::Model>> {
        Ok(environment::Entity::find()
            .filter(environment::Column::OrgId.eq(org_id))
            .filter(environment::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    pub async fn env_by_name(&self, org_id: &str, name: &str) -> Result<environment::Model> {
        self.find_env(org_id, name).await?.ok_or_else(|| not_found("environment", name))
    }

    pub async fn env_by_id(&self, id: &str) -> Result<Option<environment::Model>> {
        Ok(environment::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    pub async fn list_envs(&self, org_id: &str) -> Result<Vec<environment::Model>> {
        Ok(environment::Entity::find()
            .filter(environment::Column::OrgId.eq(org_id))
            .order_by_asc(environment::Column::Name)
            .all(&self.db)
            .await?)
    }

    // ------------------------------------------------------------------ principals, keys, grants

    pub async fn create_principal(&self, org_id: &str, name: &str, kind: &str) -> Result<principal::Model> {
        validate_name("principal", name)?;
        if !matches!(kind, "user" | "service_account") {
            return Err(StoreError::Invalid(format!("unknown principal kind {kind:?}: use user or service_account")));
        }
        if self.find_principal(org_id, name).await?.is_some() || self.find_group(org_id, name).await?.is_some() {
            return Err(StoreError::Conflict(format!("principal {name:?} already exists")));
        }
        let p = crate::principal_row(if kind == "user" { "usr" } else { "sa" }, org_id, kind, name)
            .insert(&self.db)
            .await?;
        self.changed(vec![Change::Principal(p.id.clone())]).await;
        Ok(p)
    }

    /// A user or service account by name (groups are found with [`Store::find_group`]).
    pub async fn find_principal(&self, org_id: &str, name: &str) -> Result<Option<principal::Model>> {
        Ok(principal::Entity::find()
            .filter(principal::Column::OrgId.eq(org_id))
            .filter(principal::Column::Kind.ne("group"))
            .filter(principal::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    pub async fn principal_by_name(&self, org_id: &str, name: &str) -> Result<principal::Model> {
        self.find_principal(org_id, name).await?.ok_or_else(|| not_found("principal", name))
    }

    pub async fn principal_by_id(&self, id: &str) -> Result<Option<principal::Model>> {
        Ok(principal::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    pub async fn list_principals(&self, org_id: &str) -> Result<Vec<principal::Model>> {
        Ok(principal::Entity::find()
            .filter(principal::Column::OrgId.eq(org_id))
            .order_by_asc(principal::Column::Name)
            .all(&self.db)
            .await?)
    }

    pub async fn mint_key(&self, principal_id: &str) -> Result<MintedKey> {
        let key = mint_key_in(&self.db, principal_id, None).await?;
        self.changed(vec![Change::Principal(principal_id.into())]).await;
        Ok(key)
    }

    /// Keys of the given principals, newest first (hashes never leave the store).
    pub async fn list_keys(&self, principal_ids: &[String]) -> Result<Vec<api_key::Model>> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::PrincipalId.is_in(principal_ids.iter().cloned()))
            .order_by_desc(api_key::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Revokes a key by id or by its displayed prefix, among the given principals' keys.
    pub async fn revoke_key(&self, principal_ids: &[String], id_or_prefix: &str) -> Result<api_key::Model> {
        let k = api_key::Entity::find()
            .filter(api_key::Column::PrincipalId.is_in(principal_ids.iter().cloned()))
            .filter(
                Condition::any()
                    .add(api_key::Column::Id.eq(id_or_prefix))
                    .add(api_key::Column::Prefix.eq(id_or_prefix)),
            )
            .one(&self.db)
            .await?
            .ok_or_else(|| not_found("api key", id_or_prefix))?;
        let mut am: api_key::ActiveModel = k.into();
        am.revoked_at = Set(Some(Utc::now()));
        let k = am.update(&self.db).await?;
        self.changed(vec![Change::Principal(k.principal_id.clone())]).await;
        Ok(k)
    }

    /// Creates a grant, or changes the role of the same principal × scope.
    pub async fn put_grant(
        &self,
        principal_id: &str,
        scope_kind: &str,
        scope_id: &str,
        role: Role,
    ) -> Result<grant::Model> {
        if !SCOPE_KINDS.contains(&scope_kind) {
            return Err(StoreError::Invalid(format!(
                "unknown scope {scope_kind:?}: use org, env, resource or connection"
            )));
        }
        let existing = grant::Entity::find()
            .filter(grant::Column::PrincipalId.eq(principal_id))
            .filter(grant::Column::ScopeKind.eq(scope_kind))
            .filter(grant::Column::ScopeId.eq(scope_id))
            .one(&self.db)
            .await?;
        let g = match existing {
            Some(g) => {
                let mut am: grant::ActiveModel = g.into();
                am.role = Set(role.as_str().into());
                am.update(&self.db).await?
            }
            None => {
                grant::ActiveModel {
                    id: Set(new_id("grt")),
                    principal_id: Set(principal_id.into()),
                    scope_kind: Set(scope_kind.into()),
                    scope_id: Set(scope_id.into()),
                    role: Set(role.as_str().into()),
                    created_at: Set(Utc::now()),
                }
                .insert(&self.db)
                .await?
            }
        };
        self.changed(vec![Change::Principal(principal_id.into())]).await;
        Ok(g)
    }

    pub async fn grants_of_many(&self, principal_ids: &[String]) -> Result<Vec<grant::Model>> {
        Ok(grant::Entity::find()
            .filter(grant::Column::PrincipalId.is_in(principal_ids.iter().cloned()))
            .order_by_asc(grant::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// The principal a grant belongs to, if the grant exists.
    pub async fn grant_owner(&self, id: &str) -> Result<Option<String>> {
        Ok(grant::Entity::find_by_id(id.to_string()).one(&self.db).await?.map(|g| g.principal_id))
    }

    pub async fn delete_grant(&self, principal_ids: &[String], id: &str) -> Result<()> {
        let g = grant::Entity::find_by_id(id.to_string())
            .filter(grant::Column::PrincipalId.is_in(principal_ids.iter().cloned()))
            .one(&self.db)
            .await?
            .ok_or_else(|| not_found("grant", id))?;
        let owner = g.principal_id.clone();
        g.delete(&self.db).await?;
        self.changed(vec![Change::Principal(owner)]).await;
        Ok(())
    }

    // ------------------------------------------------------------------ connections and defaults

    pub async fn connection_by_id(&self, id: &str) -> Result<Option<connection::Model>> {
        Ok(connection::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    pub async fn connection_by_name(&self, org_id: &str, name: &str) -> Result<connection::Model> {
        self.find_connection(org_id, name).await?.ok_or_else(|| not_found("connection", name))
    }

    /// Deletes a connection that no catalog entry uses (its defaults go with it).
    pub async fn delete_connection(&self, org_id: &str, name: &str) -> Result<()> {
        let c = self.connection_by_name(org_id, name).await?;
        let users = cloud_resource::Entity::find()
            .filter(cloud_resource::Column::ConnectionId.eq(c.id.clone()))
            .limit(5)
            .all(&self.db)
            .await?;
        if !users.is_empty() {
            let names: Vec<String> = users.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
            return Err(StoreError::Conflict(format!(
                "connection {name:?} is used by cloud resources ({}): delete or re-point them first",
                names.join(", ")
            )));
        }
        let txn = self.write_txn().await?;
        default_connection::Entity::delete_many()
            .filter(default_connection::Column::ConnectionId.eq(c.id.clone()))
            .exec(&txn)
            .await?;
        let id = c.id.clone();
        c.delete(&txn).await?;
        txn.commit().await?;
        self.changed(vec![Change::Connection(id)]).await;
        Ok(())
    }

    /// Makes `connection` the default for its provider, of `env_id` ("" for the org).
    pub async fn set_default_connection(&self, org_id: &str, env_id: &str, c: &connection::Model) -> Result<()> {
        let txn = self.write_txn().await?;
        default_connection::Entity::delete_many()
            .filter(default_connection::Column::OrgId.eq(org_id))
            .filter(default_connection::Column::EnvId.eq(env_id))
            .filter(default_connection::Column::Provider.eq(c.provider.clone()))
            .exec(&txn)
            .await?;
        default_connection::ActiveModel {
            id: Set(new_id("dc")),
            org_id: Set(org_id.into()),
            env_id: Set(env_id.into()),
            provider: Set(c.provider.clone()),
            connection_id: Set(c.id.clone()),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.changed(vec![Change::Defaults(org_id.into())]).await;
        Ok(())
    }

    pub async fn default_connection(
        &self,
        org_id: &str,
        env_id: &str,
        provider: &str,
    ) -> Result<Option<connection::Model>> {
        let Some(d) = default_connection::Entity::find()
            .filter(default_connection::Column::OrgId.eq(org_id))
            .filter(default_connection::Column::EnvId.eq(env_id))
            .filter(default_connection::Column::Provider.eq(provider))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        self.connection_by_id(&d.connection_id).await
    }

    /// The environments whose default connection (any provider) is `connection_id`.
    pub async fn envs_defaulting_to(&self, connection_id: &str) -> Result<Vec<String>> {
        Ok(default_connection::Entity::find()
            .filter(default_connection::Column::ConnectionId.eq(connection_id))
            .filter(default_connection::Column::EnvId.ne(""))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| d.env_id)
            .collect())
    }

    // ------------------------------------------------------------------ catalog

    /// Creates or updates `org/env/kind/name`; returns it and whether it was created.
    pub async fn apply_resource(
        &self,
        org_id: &str,
        env_id: &str,
        kind: &str,
        name: &str,
        connection_id: &str,
        namespace: &str,
    ) -> Result<(cloud_resource::Model, bool)> {
        if !RESOURCE_KINDS.contains(&kind) {
            return Err(StoreError::Invalid(format!(
                "unknown kind {kind:?}: use one of {}",
                RESOURCE_KINDS.join(", ")
            )));
        }
        validate_name("resource", name)?;
        validate_name("namespace", namespace)?;
        let now = Utc::now();
        let txn = self.write_txn().await?;
        let existing = cloud_resource::Entity::find()
            .filter(cloud_resource::Column::OrgId.eq(org_id))
            .filter(cloud_resource::Column::EnvId.eq(env_id))
            .filter(cloud_resource::Column::Kind.eq(kind))
            .filter(cloud_resource::Column::Name.eq(name))
            .one(&txn)
            .await?;
        let (model, created) = match existing {
            Some(r) => {
                let mut am: cloud_resource::ActiveModel = r.into();
                am.connection_id = Set(connection_id.into());
                am.namespace = Set(namespace.into());
                am.updated_at = Set(now);
                (am.update(&txn).await?, false)
            }
            None => (
                cloud_resource::ActiveModel {
                    id: Set(new_id("res")),
                    org_id: Set(org_id.into()),
                    env_id: Set(env_id.into()),
                    kind: Set(kind.into()),
                    name: Set(name.into()),
                    connection_id: Set(connection_id.into()),
                    namespace: Set(namespace.into()),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?,
                true,
            ),
        };
        txn.commit().await?;
        self.changed(vec![Change::Catalog(org_id.into())]).await;
        Ok((model, created))
    }

    pub async fn find_resource(
        &self,
        org_id: &str,
        env_id: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<cloud_resource::Model>> {
        Ok(cloud_resource::Entity::find()
            .filter(cloud_resource::Column::OrgId.eq(org_id))
            .filter(cloud_resource::Column::EnvId.eq(env_id))
            .filter(cloud_resource::Column::Kind.eq(kind))
            .filter(cloud_resource::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    pub async fn resource_by_id(&self, id: &str) -> Result<Option<cloud_resource::Model>> {
        Ok(cloud_resource::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    pub async fn list_resources(&self, org_id: &str, env_id: Option<&str>) -> Result<Vec<cloud_resource::Model>> {
        let mut q = cloud_resource::Entity::find().filter(cloud_resource::Column::OrgId.eq(org_id));
        if let Some(e) = env_id {
            q = q.filter(cloud_resource::Column::EnvId.eq(e));
        }
        Ok(q.order_by_asc(cloud_resource::Column::Kind)
            .order_by_asc(cloud_resource::Column::Name)
            .all(&self.db)
            .await?)
    }

    pub async fn delete_resource(&self, r: cloud_resource::Model) -> Result<()> {
        let org = r.org_id.clone();
        r.delete(&self.db).await?;
        self.changed(vec![Change::Catalog(org)]).await;
        Ok(())
    }

    // ------------------------------------------------------------------ runners

    pub async fn find_platform_runner(&self, name: &str) -> Result<Option<runner::Model>> {
        Ok(runner::Entity::find()
            .filter(runner::Column::OrgId.is_null())
            .filter(runner::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    /// An org runner by name, else a platform runner of that name.
    pub async fn runner_visible(&self, org_id: &str, name: &str) -> Result<runner::Model> {
        if let Some(r) = self.find_runner(org_id, name).await? {
            return Ok(r);
        }
        self.find_platform_runner(name).await?.ok_or_else(|| not_found("runner", name))
    }

    pub async fn list_platform_runners(&self) -> Result<Vec<runner::Model>> {
        Ok(runner::Entity::find()
            .filter(runner::Column::OrgId.is_null())
            .order_by_asc(runner::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// New generation: every earlier API key of the runner's service account is revoked, and
    /// certificates of earlier generations stop mapping to anything.
    pub async fn regenerate_runner(&self, runner_id: &str) -> Result<runner::Model> {
        let txn = self.write_txn().await?;
        let r = runner::Entity::find_by_id(runner_id.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| not_found("runner", runner_id))?;
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_key::Column::PrincipalId.eq(r.service_account_id.clone()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        let mut am: runner::ActiveModel = r.clone().into();
        am.generation = Set(r.generation + 1);
        let r = am.update(&txn).await?;
        txn.commit().await?;
        self.changed(vec![Change::Runner(r.id.clone())]).await;
        Ok(r)
    }

    /// Removes the runner and its service account (its keys and grants go with it).
    pub async fn delete_runner(&self, runner_id: &str) -> Result<runner::Model> {
        let txn = self.write_txn().await?;
        let r = runner::Entity::find_by_id(runner_id.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| not_found("runner", runner_id))?;
        connection::Entity::update_many()
            .col_expr(connection::Column::RunnerId, sea_orm::sea_query::Expr::value(Option::<String>::None))
            .filter(connection::Column::RunnerId.eq(r.id.clone()))
            .exec(&txn)
            .await?;
        default_runner::Entity::delete_many()
            .filter(default_runner::Column::RunnerId.eq(r.id.clone()))
            .exec(&txn)
            .await?;
        api_key::Entity::delete_many()
            .filter(api_key::Column::PrincipalId.eq(r.service_account_id.clone()))
            .exec(&txn)
            .await?;
        grant::Entity::delete_many()
            .filter(grant::Column::PrincipalId.eq(r.service_account_id.clone()))
            .exec(&txn)
            .await?;
        principal::Entity::delete_by_id(r.service_account_id.clone()).exec(&txn).await?;
        r.clone().delete(&txn).await?;
        txn.commit().await?;
        // Its service account by name too: a replica whose tables lack the runner row still
        // drops the account's keys.
        self.changed(vec![Change::Runner(r.id.clone()), Change::Principal(r.service_account_id.clone())]).await;
        Ok(r)
    }

    /// Default runner of an org (`Some(org_id)`) or of the platform (`None`).
    pub async fn set_default_runner(&self, org_id: Option<&str>, runner_id: &str) -> Result<()> {
        let scope = org_id.unwrap_or("").to_string();
        let txn = self.write_txn().await?;
        default_runner::Entity::delete_by_id(scope.clone()).exec(&txn).await?;
        default_runner::ActiveModel { scope: Set(scope.clone()), runner_id: Set(runner_id.into()) }
            .insert(&txn)
            .await?;
        txn.commit().await?;
        self.changed(vec![Change::Defaults(scope)]).await;
        Ok(())
    }

    pub async fn default_runner(&self, org_id: Option<&str>) -> Result<Option<runner::Model>> {
        let Some(d) = default_runner::Entity::find_by_id(org_id.unwrap_or("").to_string()).one(&self.db).await? else {
            return Ok(None);
        };
        self.runner_by_id(&d.runner_id).await
    }

    pub async fn unset_default_runner(&self, org_id: Option<&str>) -> Result<bool> {
        let scope = org_id.unwrap_or("").to_string();
        let removed = default_runner::Entity::delete_by_id(scope.clone()).exec(&self.db).await?.rows_affected > 0;
        self.changed(vec![Change::Defaults(scope)]).await;
        Ok(removed)
    }

    // ------------------------------------------------------------------ audit

    pub async fn audit_list(&self, org_id: &str, f: &AuditFilter) -> Result<Vec<audit::Model>> {
        let mut q = audit::Entity::find().filter(audit::Column::OrgId.eq(org_id));
        if let Some(s) = f.since {
            q = q.filter(audit::Column::At.gte(s));
        }
        if let Some(p) = &f.principal {
            q = q.filter(audit::Column::PrincipalName.eq(p.clone()));
        }
        if let Some(d) = &f.decision {
            q = q.filter(audit::Column::Decision.eq(d.clone()));
        }
        Ok(q.order_by_desc(audit::Column::Id).limit(if f.limit == 0 { 100 } else { f.limit }).all(&self.db).await?)
    }
}
