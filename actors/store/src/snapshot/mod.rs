//! What the request path decides with, in memory: orgs, environments, principals with their
//! keys (hashes) and grants, connections, defaults, the catalog and runner bindings.
//!
//! The resolver and the authorizer each own one, load it at start ([`Snapshot::load`]) and keep
//! it fresh with [`Change`]s: every write through [`Store`] reports what it touched to the
//! store's [`ChangeSink`], which applies it to this replica's actors and publishes it for the
//! others. A change names rows, never their content: each replica re-reads those rows, so an
//! event can be repeated, reordered against another or lost to a full reload without harm.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

mod lookups;

use crate::{
    Result, Store, api_key, cloud_resource, connection, default_connection, default_runner, environment, grant, org,
    principal, runner,
};

/// A committed write, by the rows to re-read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    Org(String),
    Env(String),
    /// The principal, its keys and its grants.
    Principal(String),
    /// The connection, and its org's defaults and catalog (which follow it on delete).
    Connection(String),
    /// The catalog of an org.
    Catalog(String),
    /// The default connections and the default runner of an org ("" for the platform's).
    Defaults(String),
    /// The runner, and its service account.
    Runner(String),
}

/// Where the store reports its writes, once they are committed.
#[async_trait::async_trait]
pub trait ChangeSink: Send + Sync + 'static {
    async fn changed(&self, changes: Vec<Change>);
}

/// Set once, after the bus is up; clones of the store made earlier see it too.
pub(crate) type SinkSlot = Arc<OnceLock<Arc<dyn ChangeSink>>>;

impl Store {
    /// Installs the sink every later write reports to. Only the first call counts.
    pub fn set_change_sink(&self, sink: Arc<dyn ChangeSink>) {
        let _ = self.sink.set(sink);
    }

    /// Reports committed writes (nothing happens before a sink is installed). The report runs
    /// on a task of its own: a caller that goes away after the commit (a client that hung up)
    /// cannot stop it half-way.
    pub(crate) async fn changed(&self, changes: Vec<Change>) {
        if let Some(sink) = self.sink.get().cloned() {
            let _ = tokio::spawn(async move { sink.changed(changes).await }).await;
        }
    }
}

/// The in-memory tables, with the indexes the request path looks up by.
#[derive(Default, Clone)]
pub struct Snapshot {
    orgs: HashMap<String, org::Model>,
    org_by_name: HashMap<String, String>,
    envs: HashMap<String, environment::Model>,
    env_by_name: HashMap<(String, String), String>,
    principals: HashMap<String, principal::Model>,
    /// Unrevoked keys only: hash → principal id, and when the key expires (a sign-in's).
    keys: HashMap<String, (String, Option<chrono::DateTime<chrono::Utc>>)>,
    keys_of: HashMap<String, Vec<String>>,
    grants_of: HashMap<String, Vec<grant::Model>>,
    /// Users signed in through the identity provider → the groups their last token listed.
    groups_of: HashMap<String, Vec<String>>,
    /// (org id, group name) → the group's principal id.
    group_ids: HashMap<(String, String), String>,
    connections: HashMap<String, connection::Model>,
    conn_by_name: HashMap<(String, String), String>,
    /// Per org.
    defaults: HashMap<String, Vec<default_connection::Model>>,
    /// Per org.
    catalog: HashMap<String, Catalog>,
    runners: HashMap<String, runner::Model>,
    /// Scope (org id, "" for the platform) → runner id.
    default_runners: HashMap<String, String>,
}

/// Forgets `key` only if it still names `id` (another row may have taken the name since).
fn unindex<K: std::hash::Hash + Eq>(index: &mut HashMap<K, String>, key: &K, id: &str) {
    if index.get(key).is_some_and(|v| v == id) {
        index.remove(key);
    }
}

/// An org's rows; no entry at all when there are none (so that made-up ids cost nothing).
fn put_rows<T: Rows>(table: &mut HashMap<String, T>, org: &str, rows: T) {
    if rows.none() {
        table.remove(org);
    } else {
        table.insert(org.to_string(), rows);
    }
}

/// One org's catalog by (env id, kind, name).
type Catalog = HashMap<(String, String, String), cloud_resource::Model>;

fn put_catalog(table: &mut HashMap<String, Catalog>, org: &str, rows: Vec<cloud_resource::Model>) {
    let by_path = rows.into_iter().map(|r| ((r.env_id.clone(), r.kind.clone(), r.name.clone()), r)).collect();
    put_rows(table, org, by_path);
}

/// What [`put_rows`] keeps per org.
trait Rows {
    fn none(&self) -> bool;
}

impl<T> Rows for Vec<T> {
    fn none(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> Rows for HashMap<K, V> {
    fn none(&self) -> bool {
        self.is_empty()
    }
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> String) -> HashMap<String, Vec<T>> {
    let mut m: HashMap<String, Vec<T>> = HashMap::new();
    for r in rows {
        m.entry(key(&r)).or_default().push(r);
    }
    m
}

impl Snapshot {
    /// Everything, from the database, as of one moment (one read transaction: repeatable read
    /// on PostgreSQL, a WAL snapshot on SQLite), so that no write falls between two tables.
    pub async fn load(store: &Store) -> Result<Self> {
        use sea_orm::{AccessMode, DbBackend, IsolationLevel, TransactionTrait};
        let postgres = store.db().get_database_backend() == DbBackend::Postgres;
        let txn = store
            .db()
            .begin_with_config(
                postgres.then_some(IsolationLevel::RepeatableRead),
                postgres.then_some(AccessMode::ReadOnly),
            )
            .await?;
        let s = Self::load_in(&txn).await?;
        txn.commit().await?;
        Ok(s)
    }

    async fn load_in(db: &impl sea_orm::ConnectionTrait) -> Result<Self> {
        let mut s = Snapshot::default();
        for o in org::Entity::find().all(db).await? {
            s.put_org(o);
        }
        for e in environment::Entity::find().all(db).await? {
            s.put_env(e);
        }
        for p in principal::Entity::find().all(db).await? {
            s.index_principal(&p);
            s.principals.insert(p.id.clone(), p);
        }
        for k in api_key::Entity::find().filter(api_key::Column::RevokedAt.is_null()).all(db).await? {
            s.keys_of.entry(k.principal_id.clone()).or_default().push(k.key_hash.clone());
            s.keys.insert(k.key_hash, (k.principal_id, k.expires_at));
        }
        s.grants_of = group(grant::Entity::find().all(db).await?, |g| g.principal_id.clone());
        for c in connection::Entity::find().all(db).await? {
            s.put_connection(c);
        }
        s.defaults = group(default_connection::Entity::find().all(db).await?, |d| d.org_id.clone());
        for (org, rows) in group(cloud_resource::Entity::find().all(db).await?, |r| r.org_id.clone()) {
            put_catalog(&mut s.catalog, &org, rows);
        }
        s.runners = runner::Entity::find().all(db).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        s.default_runners =
            default_runner::Entity::find().all(db).await?.into_iter().map(|d| (d.scope, d.runner_id)).collect();
        Ok(s)
    }

    /// Re-reads what `change` names. On error nothing is half-applied for that change.
    pub async fn apply(&mut self, store: &Store, change: &Change) -> Result<()> {
        let db = store.db();
        match change {
            Change::Org(id) => match org::Entity::find_by_id(id.clone()).one(db).await? {
                Some(o) => self.put_org(o),
                None => {
                    if let Some(o) = self.orgs.remove(id) {
                        unindex(&mut self.org_by_name, &o.name, id);
                    }
                }
            },
            Change::Env(id) => match environment::Entity::find_by_id(id.clone()).one(db).await? {
                Some(e) => self.put_env(e),
                None => {
                    if let Some(e) = self.envs.remove(id) {
                        unindex(&mut self.env_by_name, &(e.org_id, e.name), id);
                    }
                }
            },
            Change::Principal(id) => {
                let p = principal::Entity::find_by_id(id.clone()).one(db).await?;
                let keys = api_key::Entity::find()
                    .filter(api_key::Column::PrincipalId.eq(id.clone()))
                    .filter(api_key::Column::RevokedAt.is_null())
                    .all(db)
                    .await?;
                let grants = grant::Entity::find().filter(grant::Column::PrincipalId.eq(id.clone())).all(db).await?;
                self.put_principal(id, p, keys, grants);
            }
            Change::Connection(id) => {
                let c = connection::Entity::find_by_id(id.clone()).one(db).await?;
                let org_id =
                    c.as_ref().map(|c| c.org_id.clone()).or_else(|| self.connections.get(id).map(|c| c.org_id.clone()));
                let reread = match &org_id {
                    Some(org) => Some((self.read_defaults(store, org).await?, self.read_catalog(store, org).await?)),
                    None => None,
                };
                match c {
                    Some(c) => self.put_connection(c),
                    None => {
                        if let Some(c) = self.connections.remove(id) {
                            unindex(&mut self.conn_by_name, &(c.org_id, c.name), id);
                        }
                    }
                }
                if let (Some(org), Some((defaults, catalog))) = (org_id, reread) {
                    put_rows(&mut self.defaults, &org, defaults);
                    put_catalog(&mut self.catalog, &org, catalog);
                }
            }
            Change::Catalog(org) => {
                let rows = self.read_catalog(store, org).await?;
                put_catalog(&mut self.catalog, org, rows);
            }
            Change::Defaults(scope) => {
                let rows = if scope.is_empty() { Vec::new() } else { self.read_defaults(store, scope).await? };
                let runner = default_runner::Entity::find_by_id(scope.clone()).one(db).await?;
                if !scope.is_empty() {
                    put_rows(&mut self.defaults, scope, rows);
                }
                match runner {
                    Some(d) => {
                        self.default_runners.insert(scope.clone(), d.runner_id);
                    }
                    None => {
                        self.default_runners.remove(scope);
                    }
                }
            }
            Change::Runner(id) => {
                let r = runner::Entity::find_by_id(id.clone()).one(db).await?;
                // A deleted runner takes its service account along; re-read that too.
                let sa = r
                    .as_ref()
                    .map(|r| r.service_account_id.clone())
                    .or_else(|| self.runners.get(id).map(|r| r.service_account_id.clone()));
                match r {
                    Some(r) => {
                        self.runners.insert(id.clone(), r);
                    }
                    None => {
                        self.runners.remove(id);
                        self.default_runners.retain(|_, rid| rid != id);
                    }
                }
                if let Some(sa) = sa {
                    Box::pin(self.apply(store, &Change::Principal(sa))).await?;
                }
            }
        }
        Ok(())
    }

    async fn read_defaults(&self, store: &Store, org: &str) -> Result<Vec<default_connection::Model>> {
        Ok(default_connection::Entity::find().filter(default_connection::Column::OrgId.eq(org)).all(store.db()).await?)
    }

    async fn read_catalog(&self, store: &Store, org: &str) -> Result<Vec<cloud_resource::Model>> {
        Ok(cloud_resource::Entity::find().filter(cloud_resource::Column::OrgId.eq(org)).all(store.db()).await?)
    }

    fn put_org(&mut self, o: org::Model) {
        if let Some(old) = self.orgs.get(&o.id) {
            self.org_by_name.remove(&old.name);
        }
        self.org_by_name.insert(o.name.clone(), o.id.clone());
        self.orgs.insert(o.id.clone(), o);
    }

    fn put_env(&mut self, e: environment::Model) {
        if let Some(old) = self.envs.get(&e.id) {
            self.env_by_name.remove(&(old.org_id.clone(), old.name.clone()));
        }
        self.env_by_name.insert((e.org_id.clone(), e.name.clone()), e.id.clone());
        self.envs.insert(e.id.clone(), e);
    }

    fn put_connection(&mut self, c: connection::Model) {
        if let Some(old) = self.connections.get(&c.id) {
            self.conn_by_name.remove(&(old.org_id.clone(), old.name.clone()));
        }
        self.conn_by_name.insert((c.org_id.clone(), c.name.clone()), c.id.clone());
        self.connections.insert(c.id.clone(), c);
    }

    fn put_principal(
        &mut self,
        id: &str,
        p: Option<principal::Model>,
        keys: Vec<api_key::Model>,
        grants: Vec<grant::Model>,
    ) {
        for hash in self.keys_of.remove(id).unwrap_or_default() {
            self.keys.remove(&hash);
        }
        self.grants_of.remove(id);
        self.groups_of.remove(id);
        if let Some(old) = self.principals.remove(id)
            && old.kind == "group"
        {
            unindex(&mut self.group_ids, &(old.org_id, old.name), id);
        }
        let Some(p) = p else { return };
        let mut hashes = Vec::with_capacity(keys.len());
        for k in keys {
            self.keys.insert(k.key_hash.clone(), (id.to_string(), k.expires_at));
            hashes.push(k.key_hash);
        }
        self.keys_of.insert(id.to_string(), hashes);
        self.grants_of.insert(id.to_string(), grants);
        self.index_principal(&p);
        self.principals.insert(id.to_string(), p);
    }

    /// A group by its name in its org; a user by the groups it belongs to.
    fn index_principal(&mut self, p: &principal::Model) {
        if p.kind == "group" {
            self.group_ids.insert((p.org_id.clone(), p.name.clone()), p.id.clone());
        }
        let groups = crate::groups_of(p);
        if !groups.is_empty() {
            self.groups_of.insert(p.id.clone(), groups);
        }
    }
}
