//! Persistent state of the control plane (sea-orm; SQLite by default, PostgreSQL for HA).
//!
//! Never stored here: a runner's private key, a raw API key, or any cloud credential.

mod connection_settings;
mod connections;
mod console;
pub mod entity;
mod error;
mod identity;
pub mod live;
mod migration;
pub mod presence;
mod runner_choice;
mod runners;
mod sealing;
mod secrets;
mod sessions;
mod sign_ins;
pub mod snapshot;
mod tenancy;

pub use connection_settings::{
    allowed_secret_refs, allowed_settings, check_cloud_param, check_secret_refs, check_settings,
};
pub use connections::NewConnection;
pub use console::ConsoleUser;
pub use error::{DB_UNAVAILABLE, Result, StoreError};
pub use identity::{MAX_GROUP_NAME, OidcIdentity, groups_of, validate_group};
pub use live::LiveSnapshot;
pub use runner_choice::{RunnerChoiceError, choose_runner};
pub use sealing::{SealError, SecretsKey};
pub use secrets::{MAX_SECRET_BYTES, secret_refs};
pub use sessions::{ExecEnd, SessionFilter};
pub use sign_ins::{CliHandoff, Exchange, PendingLogin};
pub use snapshot::{Change, ChangeSink, Snapshot};
pub use tenancy::{AuditFilter, RESOURCE_KINDS, SCOPE_KINDS, check_resource};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use sha2::{Digest, Sha256};

pub use entity::{
    api_key, audit, cloud_resource, connection, console_session, default_connection, default_runner, environment,
    exec_session, grant, oidc_exchange, oidc_login, org, principal, runner, secret,
};

/// How long a request waits for a database connection (or to open one) before it fails with a
/// clear error: a database that is down or restarting must not hang every request.
pub const DB_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Roles, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

pub const PROVIDERS: [&str; 4] = ["kubernetes", "aws", "gcp", "azure"];

/// A freshly minted API key: the raw key (shown once) and its stored row.
pub struct MintedKey {
    pub raw: String,
    pub row: api_key::Model,
}

/// What first start created.
pub struct Bootstrap {
    pub org: org::Model,
    pub admin: principal::Model,
    pub api_key: String,
}

pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 10] = rand::random();
    format!("{prefix}-{}", data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
}

pub fn hash_key(raw: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(raw.as_bytes()))
}

/// Names used in URLs, subjects and the CLI: DNS-label style.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid {what} name {name:?}: use 1-63 lowercase letters, digits or '-', not starting or ending with '-'"
        )))
    }
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    sink: snapshot::SinkSlot,
}

impl Store {
    /// Connects (`sqlite://path?mode=rwc` or `postgres://…`) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let mut opts = ConnectOptions::new(url.to_string());
        opts.sqlx_logging(false).connect_timeout(DB_WAIT).acquire_timeout(DB_WAIT);
        if url.starts_with("sqlite:") {
            // WAL lets readers proceed beside the one writer; synchronous=NORMAL is durable
            // against crashes in WAL mode. Set on every pooled connection.
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(std::time::Duration::from_secs(5))
            });
        }
        let db = Database::connect(opts).await?;
        migration::Migrator::up(&db, None).await?;
        Ok(Self { db, sink: Default::default() })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begins a transaction that writes. SQLite's transactions are deferred: one that reads
    /// and then writes fails at once with SQLITE_BUSY when another connection committed in
    /// between (the busy timeout does not cover that upgrade). So on SQLite the write lock is
    /// taken first, by a statement that writes nothing; the busy timeout applies to it.
    pub(crate) async fn write_txn(&self) -> Result<DatabaseTransaction> {
        let txn = self.db.begin().await?;
        if self.db.get_database_backend() == DbBackend::Sqlite {
            txn.execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 0").await?;
        }
        Ok(txn)
    }

    /// On first start: an org, an admin user with an org-admin grant, and an API key for it.
    /// Returns None when the store already has an org.
    pub async fn bootstrap(&self, org_name: &str) -> Result<Option<Bootstrap>> {
        validate_name("org", org_name)?;
        if org::Entity::find().one(&self.db).await?.is_some() {
            return Ok(None);
        }
        let txn = self.write_txn().await?;
        let now = Utc::now();
        let org = org::ActiveModel { id: Set(new_id("org")), name: Set(org_name.into()), created_at: Set(now) }
            .insert(&txn)
            .await?;
        let admin = principal::ActiveModel {
            id: Set(new_id("usr")),
            org_id: Set(org.id.clone()),
            kind: Set("user".into()),
            name: Set("admin".into()),
            platform_operator: Set(true),
            runner_id: Set(None),
            created_at: Set(now),
            oidc_issuer: Set(None),
            oidc_subject: Set(None),
            groups: Set(None),
        }
        .insert(&txn)
        .await?;
        grant_in(&txn, &admin.id, "org", &org.id, Role::Admin).await?;
        let key = mint_key_in(&txn, &admin.id, None).await?;
        txn.commit().await?;
        self.changed(vec![Change::Org(org.id.clone()), Change::Principal(admin.id.clone())]).await;
        Ok(Some(Bootstrap { org, admin, api_key: key.raw }))
    }

    /// The principal holding a valid key (unrevoked, unexpired).
    pub async fn authenticate(&self, raw: &str) -> Result<Option<principal::Model>> {
        // One round trip: the principal whose unrevoked key has this hash.
        let key = sea_orm::sea_query::Query::select()
            .column(api_key::Column::PrincipalId)
            .from(api_key::Entity)
            .and_where(api_key::Column::KeyHash.eq(hash_key(raw)))
            .and_where(api_key::Column::RevokedAt.is_null())
            .cond_where(
                sea_orm::Condition::any()
                    .add(api_key::Column::ExpiresAt.is_null())
                    .add(api_key::Column::ExpiresAt.gt(Utc::now())),
            )
            .to_owned();
        Ok(principal::Entity::find().filter(principal::Column::Id.in_subquery(key)).one(&self.db).await?)
    }

    pub async fn org_by_name(&self, name: &str) -> Result<org::Model> {
        org::Entity::find()
            .filter(org::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "org", name: name.into() })
    }

    pub async fn org_by_id(&self, id: &str) -> Result<org::Model> {
        org::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "org", name: id.into() })
    }

    pub async fn audit_insert(&self, row: audit::ActiveModel) -> Result<i64> {
        Ok(row.insert(&self.db).await?.id)
    }

    /// A batch of audit records in one statement (so one transaction: all or none): their
    /// ids, in the order given.
    pub async fn audit_records(&self, rows: Vec<audit::ActiveModel>) -> Result<Vec<i64>> {
        let n = rows.len();
        let ids = match n {
            0 => Vec::new(),
            1 => {
                let row = rows.into_iter().next().expect("one row");
                vec![audit::Entity::insert(row).exec(&self.db).await?.last_insert_id]
            }
            _ => {
                // Ids grow in the order one statement inserts its rows; RETURNING's own order is
                // unspecified, so they are sorted.
                let mut ids = audit::Entity::insert_many(rows).exec_with_returning_keys(&self.db).await?;
                ids.sort_unstable();
                ids
            }
        };
        if ids.len() != n {
            return Err(StoreError::Conflict(format!("audit batch: {} of {n} records inserted", ids.len())));
        }
        Ok(ids)
    }

    /// Completes recorded decisions with their outcome (result, latency): one statement.
    pub async fn audit_outcomes(&self, outcomes: &[(i64, String, i64)]) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        use sea_orm::sea_query::{CaseStatement, Expr};
        let (mut result, mut latency) = (CaseStatement::new(), CaseStatement::new());
        for (id, r, l) in outcomes {
            result = result.case(audit::Column::Id.eq(*id), Expr::value(r.clone()));
            latency = latency.case(audit::Column::Id.eq(*id), Expr::value(*l));
        }
        audit::Entity::update_many()
            .col_expr(audit::Column::Result, result.into())
            .col_expr(audit::Column::LatencyUs, latency.into())
            .filter(audit::Column::Id.is_in(outcomes.iter().map(|o| o.0)))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn audit_outcome(&self, id: i64, result: &str, latency_us: i64) -> Result<()> {
        if let Some(row) = audit::Entity::find_by_id(id).one(&self.db).await? {
            let mut am: audit::ActiveModel = row.into();
            am.result = Set(Some(result.into()));
            am.latency_us = Set(Some(latency_us));
            am.update(&self.db).await?;
        }
        Ok(())
    }

    pub async fn audit_recent(&self, org_id: &str, limit: u64) -> Result<Vec<audit::Model>> {
        use sea_orm::QuerySelect;
        Ok(audit::Entity::find()
            .filter(audit::Column::OrgId.eq(org_id))
            .order_by_desc(audit::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }
}

pub(crate) async fn grant_in(
    db: &impl sea_orm::ConnectionTrait,
    principal: &str,
    scope_kind: &str,
    scope_id: &str,
    role: Role,
) -> Result<()> {
    grant::ActiveModel {
        id: Set(new_id("grt")),
        principal_id: Set(principal.into()),
        scope_kind: Set(scope_kind.into()),
        scope_id: Set(scope_id.into()),
        role: Set(role.as_str().into()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Mints a key for `principal`; one with `expires_at` stops working then (a sign-in's session).
pub(crate) async fn mint_key_in(
    db: &impl sea_orm::ConnectionTrait,
    principal: &str,
    expires_at: Option<DateTimeUtc>,
) -> Result<MintedKey> {
    let secret: [u8; 32] = rand::random();
    let raw = format!("cok_{}", data_encoding::BASE32_NOPAD.encode(&secret).to_ascii_lowercase());
    let row = api_key::ActiveModel {
        id: Set(new_id("key")),
        principal_id: Set(principal.into()),
        key_hash: Set(hash_key(&raw)),
        prefix: Set(raw[..12].to_string()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(MintedKey { raw, row })
}

/// A new principal's row: not a platform operator, no runner, no identity-provider identity
/// (callers set what differs).
pub(crate) fn principal_row(id_prefix: &str, org_id: &str, kind: &str, name: &str) -> principal::ActiveModel {
    principal::ActiveModel {
        id: Set(new_id(id_prefix)),
        org_id: Set(org_id.into()),
        kind: Set(kind.into()),
        name: Set(name.into()),
        platform_operator: Set(false),
        runner_id: Set(None),
        created_at: Set(Utc::now()),
        oidc_issuer: Set(None),
        oidc_subject: Set(None),
        groups: Set(None),
    }
}

pub use sea_orm::Set as SetValue;
pub type DateTimeUtc = chrono::DateTime<Utc>;
pub fn now() -> DateTimeUtc {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL when DATABASE_URL is set, else a SQLite file.
    pub(crate) async fn test_store() -> (Store, Option<tempfile_dir::Dir>) {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => (Store::open(&url).await.unwrap(), None),
            _ => {
                eprintln!("DATABASE_URL not set: store tests run on SQLite");
                let d = tempfile_dir::Dir::new();
                let url = format!("sqlite://{}/t.db?mode=rwc", d.0.display());
                (Store::open(&url).await.unwrap(), Some(d))
            }
        }
    }

    /// The org `default`: made by this run's bootstrap, or by an earlier run's on a PostgreSQL
    /// database that outlives runs.
    pub(crate) async fn default_org(store: &Store) -> org::Model {
        match store.bootstrap("default").await.unwrap() {
            Some(b) => b.org,
            None => store.org_by_name("default").await.unwrap(),
        }
    }

    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(super::new_id("store-test"));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn audit_row(reason: &str) -> audit::ActiveModel {
        audit::ActiveModel {
            id: Default::default(),
            at: Set(Utc::now()),
            principal_id: Set("usr-test".into()),
            principal_name: Set("t".into()),
            org_id: Set(new_id("org")),
            mode: Set("admin".into()),
            target: Set("org/x".into()),
            op: Set("test".into()),
            verb: Set("read".into()),
            decision: Set("allowed".into()),
            reason: Set(reason.into()),
            result: Set(None),
            latency_us: Set(None),
        }
    }

    #[tokio::test]
    async fn audit_batches_return_each_records_own_id() {
        let (store, _d) = test_store().await;
        let reasons: Vec<String> = (0..5).map(|i| new_id(&format!("r{i}"))).collect();
        let ids = store.audit_records(reasons.iter().map(|r| audit_row(r)).collect()).await.unwrap();
        assert_eq!(ids.len(), 5);
        let one = store.audit_records(vec![audit_row("alone")]).await.unwrap();
        assert_eq!(one.len(), 1);
        store.audit_outcomes(&[(ids[0], "ok".into(), 7)]).await.unwrap();
        store.audit_outcomes(&[(ids[1], "not_found".into(), 9), (ids[2], "ok".into(), 11)]).await.unwrap();
        for (id, want) in [(ids[1], ("not_found", 9)), (ids[2], ("ok", 11))] {
            let row = audit::Entity::find_by_id(id).one(store.db()).await.unwrap().unwrap();
            assert_eq!((row.result.as_deref(), row.latency_us), (Some(want.0), Some(want.1)));
        }
        let untouched = audit::Entity::find_by_id(ids[3]).one(store.db()).await.unwrap().unwrap();
        assert_eq!((untouched.result, untouched.latency_us), (None, None));
        for (id, reason) in ids.iter().zip(&reasons) {
            let row = audit::Entity::find_by_id(*id).one(store.db()).await.unwrap().unwrap();
            assert_eq!(&row.reason, reason, "id {id} belongs to its own record");
        }
        let first = audit::Entity::find_by_id(ids[0]).one(store.db()).await.unwrap().unwrap();
        assert_eq!((first.result.as_deref(), first.latency_us), (Some("ok"), Some(7)));
    }

    #[tokio::test]
    async fn bootstrap_authenticate_runner_lifecycle() {
        let (store, _d) = test_store().await;
        // Postgres may be shared between runs: use a unique org name and skip bootstrap there.
        let org = match store.bootstrap("default").await.unwrap() {
            Some(b) => {
                let p = store.authenticate(&b.api_key).await.unwrap().unwrap();
                assert_eq!(p.id, b.admin.id);
                assert!(store.authenticate("cok_wrong").await.unwrap().is_none());
                assert!(store.bootstrap("default").await.unwrap().is_none(), "bootstrap runs once");
                b.org
            }
            None => store.org_by_name("default").await.unwrap(),
        };
        let name = format!("r{}", &new_id("x")[2..10]);
        let r = store.ensure_runner(Some(&org.id), &org.id, &name, None).await.unwrap();
        assert_eq!(store.ensure_runner(Some(&org.id), &org.id, &name, None).await.unwrap().id, r.id, "idempotent");
        let k1 = store.record_runner_credentials(&r.id, "fp1").await.unwrap();
        let k2 = store.record_runner_credentials(&r.id, "fp2").await.unwrap();
        assert_ne!(k1.raw, k2.raw);
        assert!(store.authenticate(&k1.raw).await.unwrap().is_some(), "earlier keys stay valid");
        assert!(store.admit_runner(&r.id, 1).await.unwrap().is_ok());
        assert!(store.admit_runner(&r.id, 2).await.unwrap().unwrap_err().contains("generation 2"));
        assert!(store.admit_runner("rnr-nope", 1).await.unwrap().unwrap_err().contains("not registered"));
        let bad = store.create_connection(&org.id, NewConnection::new(&format!("c{name}"), "k8s")).await.unwrap_err();
        assert!(bad.to_string().contains("unknown provider"), "{bad}");
        let c = store
            .create_connection(
                &org.id,
                NewConnection {
                    runner_id: Some(r.id.clone()),
                    ..NewConnection::new(&format!("c{name}"), "kubernetes")
                },
            )
            .await
            .unwrap();
        assert_eq!(store.find_connection(&org.id, &c.name).await.unwrap().unwrap().id, c.id);
        let dup = store.create_connection(&org.id, NewConnection::new(&c.name, "kubernetes")).await.unwrap_err();
        assert!(dup.to_string().contains("already exists"));
        assert!(validate_name("runner", "Bad.Name").is_err());
    }

    /// A write transaction that reads first must not fail when other writers commit beside
    /// it (on SQLite a deferred transaction would get SQLITE_BUSY at once).
    #[tokio::test]
    async fn write_transactions_survive_concurrent_writers() {
        let (store, _d) = test_store().await;
        let org = default_org(&store).await;
        let name = format!("w{}", &new_id("x")[2..10]);
        let r = store.ensure_runner(Some(&org.id), &org.id, &name, None).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (store, id) = (store.clone(), r.id.clone());
            tasks.spawn(async move {
                if i % 2 == 0 {
                    store.record_runner_credentials(&id, &format!("fp{i}")).await.map(|_| ())
                } else {
                    store.touch_runner(&id, "test").await
                }
            });
        }
        while let Some(res) = tasks.join_next().await {
            res.unwrap().unwrap();
        }
    }
}
