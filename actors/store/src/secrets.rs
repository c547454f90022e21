//! The secrets an org keeps for its connections: sealed at rest (`sealing.rs`), listed by name
//! only, opened for the runner that serves a connection referencing them.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::{
    Result, Store, StoreError, connection, new_id, sealing::SecretsKey, secret, tenancy::not_found, validate_name,
};

/// The largest value a secret holds: a role ARN, an external id, a token or a small file.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

impl Store {
    /// Sets secret `name` of the org to `value` (created, or replaced). Returns the row and
    /// whether it was created.
    pub async fn put_secret(
        &self,
        key: &SecretsKey,
        org_id: &str,
        name: &str,
        value: &[u8],
    ) -> Result<(secret::Model, bool)> {
        validate_name("secret", name)?;
        if value.is_empty() {
            return Err(StoreError::Invalid(format!("secret {name:?}: the value is empty")));
        }
        if value.len() > MAX_SECRET_BYTES {
            return Err(StoreError::Invalid(format!(
                "secret {name:?}: the value is {} bytes, at most {MAX_SECRET_BYTES} are kept",
                value.len()
            )));
        }
        let sealed = key.seal(org_id, name, value);
        let txn = self.write_txn().await?;
        let now = Utc::now();
        let existing = secret::Entity::find()
            .filter(secret::Column::OrgId.eq(org_id))
            .filter(secret::Column::Name.eq(name))
            .one(&txn)
            .await?;
        let (row, created) = match existing {
            Some(s) => {
                let mut a: secret::ActiveModel = s.into();
                a.sealed = Set(sealed);
                a.updated_at = Set(now);
                (a.update(&txn).await?, false)
            }
            None => (
                secret::ActiveModel {
                    id: Set(new_id("sec")),
                    org_id: Set(org_id.into()),
                    name: Set(name.into()),
                    sealed: Set(sealed),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?,
                true,
            ),
        };
        txn.commit().await?;
        Ok((row, created))
    }

    pub async fn list_secrets(&self, org_id: &str) -> Result<Vec<secret::Model>> {
        Ok(secret::Entity::find()
            .filter(secret::Column::OrgId.eq(org_id))
            .order_by_asc(secret::Column::Name)
            .all(&self.db)
            .await?)
    }

    pub(crate) async fn find_secret(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        org_id: &str,
        name: &str,
    ) -> Result<Option<secret::Model>> {
        Ok(secret::Entity::find()
            .filter(secret::Column::OrgId.eq(org_id))
            .filter(secret::Column::Name.eq(name))
            .one(db)
            .await?)
    }

    /// The connections of the org whose secret references name `name`, by name.
    pub async fn connections_using_secret(&self, org_id: &str, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list_connections(org_id)
            .await?
            .into_iter()
            .filter(|c| secret_refs(c).values().any(|v| v == name))
            .map(|c| c.name)
            .collect())
    }

    /// Deletes a secret that no connection references.
    pub async fn delete_secret(&self, org_id: &str, name: &str) -> Result<()> {
        let users = self.connections_using_secret(org_id, name).await?;
        if !users.is_empty() {
            return Err(StoreError::Conflict(format!(
                "secret {name:?} is used by connection{} {}: delete those connections first",
                if users.len() == 1 { "" } else { "s" },
                users.join(", ")
            )));
        }
        let s = self.find_secret(&self.db, org_id, name).await?.ok_or_else(|| not_found("secret", name))?;
        secret::Entity::delete_by_id(s.id).exec(&self.db).await?;
        Ok(())
    }

    /// The values of a connection's secret references, by setting key. Every value is text
    /// (it becomes a setting of the op); one that is missing or does not open is named.
    pub async fn reveal_secret_refs(
        &self,
        key: &SecretsKey,
        c: &connection::Model,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (setting, name) in secret_refs(c) {
            let s = self.find_secret(&self.db, &c.org_id, &name).await?.ok_or_else(|| {
                StoreError::Invalid(format!(
                    "connection {:?} takes {setting} from secret {name:?}, which does not exist (an org admin creates it)",
                    c.name
                ))
            })?;
            let value = key.open(&c.org_id, &name, &s.sealed)?;
            let text = String::from_utf8(value).map_err(|_| {
                StoreError::Invalid(format!(
                    "secret {name:?} is not text, and {setting} of connection {:?} must be",
                    c.name
                ))
            })?;
            out.insert(setting, text);
        }
        Ok(out)
    }

    /// Fails when a stored secret does not open with `key`: a control plane started with
    /// another key than the one its secrets were sealed with says so at start.
    pub async fn check_secrets_key(&self, key: &SecretsKey) -> Result<()> {
        if let Some(s) = secret::Entity::find().one(&self.db).await? {
            key.open(&s.org_id, &s.name, &s.sealed)?;
        }
        Ok(())
    }
}

/// A connection's secret references: setting key → secret name.
pub fn secret_refs(c: &connection::Model) -> BTreeMap<String, String> {
    serde_json::from_str(&c.secret_refs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewConnection, tests::test_store};

    #[tokio::test]
    async fn secrets_are_sealed_referenced_revealed_and_kept_while_used() {
        let (store, _d) = test_store().await;
        let org = crate::tests::default_org(&store).await;
        // Unique names: PostgreSQL's test database outlives the run.
        let n = |base: &str| format!("{base}-{}", &new_id("x")[2..10]);
        let (role, conn) = (n("role"), n("aws"));
        let key = SecretsKey::generate();
        let arn = "arn:aws:iam::111111111111:role/ops";
        let (row, created) = store.put_secret(&key, &org.id, &role, arn.as_bytes()).await.unwrap();
        assert!(created && !row.sealed.contains("arn:aws"), "{}", row.sealed);
        let (again, created) = store.put_secret(&key, &org.id, &role, arn.as_bytes()).await.unwrap();
        assert!(!created && again.id == row.id && again.sealed != row.sealed);
        assert!(store.put_secret(&key, &org.id, &n("empty"), b"").await.is_err());
        assert!(store.put_secret(&key, &org.id, "Bad_Name", b"x").await.is_err());
        assert!(store.put_secret(&key, &org.id, &n("big"), &vec![b'x'; MAX_SECRET_BYTES + 1]).await.is_err());

        let missing = NewConnection {
            secret_refs: BTreeMap::from([("role_arn".into(), "nope".into())]),
            ..NewConnection::new(&n("aws"), "aws")
        };
        let e = store.create_connection(&org.id, missing).await.unwrap_err().to_string();
        assert!(e.contains("the org has no secret \"nope\""), "{e}");
        let both = NewConnection {
            settings: BTreeMap::from([("region".into(), "eu-west-1".into())]),
            secret_refs: BTreeMap::from([("role_arn".into(), role.clone())]),
            ..NewConnection::new(&conn, "aws")
        };
        let c = store.create_connection(&org.id, both).await.unwrap();
        assert_eq!(
            store.reveal_secret_refs(&key, &c).await.unwrap(),
            BTreeMap::from([("role_arn".into(), arn.into())])
        );
        assert_eq!(store.connections_using_secret(&org.id, &role).await.unwrap(), vec![conn.clone()]);

        let e = store.delete_secret(&org.id, &role).await.unwrap_err().to_string();
        assert!(e.contains(&format!("used by connection {conn}")), "{e}");
        // Another key opens nothing, and a control plane started with it says so.
        let other = SecretsKey::generate();
        assert!(matches!(store.reveal_secret_refs(&other, &c).await, Err(StoreError::Seal(_))));
        assert!(store.check_secrets_key(&other).await.is_err());
        store.delete_connection(&org.id, &conn).await.unwrap();
        store.delete_secret(&org.id, &role).await.unwrap();
        assert!(store.list_secrets(&org.id).await.unwrap().iter().all(|s| s.name != role));
        assert!(matches!(store.delete_secret(&org.id, &role).await, Err(StoreError::NotFound { .. })));
    }
}
