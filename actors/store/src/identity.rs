//! People who sign in through the company's identity provider (OpenID Connect): a principal
//! made just in time from a verified ID token, keyed by its issuer and subject; the groups the
//! token lists, which give the grants of the org's group principals; and the session keys such
//! a sign-in gets. The browser sign-ins under way are in `sign_ins.rs`.
//!
//! Nothing here verifies a token: the gateway does, and hands over what it verified.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::{Change, MintedKey, Result, Store, StoreError, api_key, grant, mint_key_in, principal};

/// Who a verified ID token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`: the identity for good.
    pub subject: String,
    /// The name shown and used in grants: the verified email, else the subject.
    pub display: String,
    /// The groups the token lists (the configured claim), as the token says them.
    pub groups: Vec<String>,
}

/// Groups a token may list, each this long at most (longer ones are ignored).
pub const MAX_GROUP_NAME: usize = 256;
/// Groups kept per principal (a token listing more is cut at this many).
pub const MAX_GROUPS: usize = 256;
/// A sign-in's expired keys are kept this long (a refresh names the one it renews), then swept.
const EXPIRED_KEYS_KEPT_DAYS: i64 = 30;

/// A group's name as the identity provider writes it: 1-256 characters, no control characters.
pub fn validate_group(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_GROUP_NAME || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "invalid group name {name:?}: use 1-{MAX_GROUP_NAME} characters, no control characters, as the identity provider writes it"
        )));
    }
    Ok(())
}

/// The groups recorded on a principal.
pub fn groups_of(p: &principal::Model) -> Vec<String> {
    p.groups.as_deref().and_then(|g| serde_json::from_str(g).ok()).unwrap_or_default()
}

impl Store {
    /// Signs in the person a verified ID token names, in `org_id`: their principal (made and
    /// named on first sign-in, the groups brought up to date on every one), and a key that
    /// expires after `ttl`. Their keys expired long ago are swept on the way.
    ///
    /// The name is never changed afterwards: grants, audit records and the identity a cluster
    /// sees (impersonation) follow it, and a name given up could be taken by someone else.
    pub async fn oidc_sign_in(
        &self,
        org_id: &str,
        who: &OidcIdentity,
        ttl: chrono::Duration,
    ) -> Result<(principal::Model, MintedKey)> {
        let txn = self.write_txn().await?;
        let p = upsert_in(&txn, org_id, who).await?;
        let key = sign_in_key_in(&txn, &p.id, ttl).await?;
        txn.commit().await?;
        self.changed(vec![Change::Principal(p.id.clone())]).await;
        Ok((p, key))
    }

    /// The person's principal, made or brought up to date as [`Store::oidc_sign_in`] does, with
    /// no key yet (a CLI's hand-off mints it when the CLI redeems its code).
    pub async fn oidc_principal(&self, org_id: &str, who: &OidcIdentity) -> Result<principal::Model> {
        let txn = self.write_txn().await?;
        let p = upsert_in(&txn, org_id, who).await?;
        txn.commit().await?;
        self.changed(vec![Change::Principal(p.id.clone())]).await;
        Ok(p)
    }

    /// A key that expires after `ttl`, for a principal made by sign-in.
    pub async fn mint_sign_in_key(&self, principal_id: &str, ttl: chrono::Duration) -> Result<MintedKey> {
        let txn = self.write_txn().await?;
        let key = sign_in_key_in(&txn, principal_id, ttl).await?;
        txn.commit().await?;
        self.changed(vec![Change::Principal(principal_id.into())]).await;
        Ok(key)
    }

    /// The org's principal for an identity-provider group, made on first use. A group holds
    /// grants for its members and nothing else: no keys, no sign-in.
    pub async fn ensure_group(&self, org_id: &str, name: &str) -> Result<principal::Model> {
        validate_group(name)?;
        let same_name = principal::Entity::find()
            .filter(principal::Column::OrgId.eq(org_id))
            .filter(principal::Column::Name.eq(name))
            .one(&self.db)
            .await?;
        match same_name {
            Some(g) if g.kind == "group" => return Ok(g),
            Some(p) => {
                return Err(StoreError::Conflict(format!(
                    "{name:?} is a {} of this org, not a group: a group's grant needs a name no principal has",
                    p.kind.replace('_', " ")
                )));
            }
            None => {}
        }
        let g = crate::principal_row("grp", org_id, "group", name).insert(&self.db).await?;
        self.changed(vec![Change::Principal(g.id.clone())]).await;
        Ok(g)
    }

    pub async fn find_group(&self, org_id: &str, name: &str) -> Result<Option<principal::Model>> {
        Ok(principal::Entity::find()
            .filter(principal::Column::OrgId.eq(org_id))
            .filter(principal::Column::Kind.eq("group"))
            .filter(principal::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    /// Every grant a principal holds: its own, and those of the org's groups its last sign-in
    /// listed.
    pub async fn grants_of(&self, principal_id: &str) -> Result<Vec<grant::Model>> {
        let mut held = grant::Entity::find().filter(grant::Column::PrincipalId.eq(principal_id)).all(&self.db).await?;
        let Some(p) = self.principal_by_id(principal_id).await? else { return Ok(held) };
        let groups = groups_of(&p);
        if groups.is_empty() {
            return Ok(held);
        }
        let group_ids: Vec<String> = principal::Entity::find()
            .filter(principal::Column::OrgId.eq(&p.org_id))
            .filter(principal::Column::Kind.eq("group"))
            .filter(principal::Column::Name.is_in(groups))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        held.extend(grant::Entity::find().filter(grant::Column::PrincipalId.is_in(group_ids)).all(&self.db).await?);
        Ok(held)
    }

    /// Whether `key_hash` is an unrevoked key of a principal made by sign-in (expired or not):
    /// what a refresh renews. An admin who revoked it ends the sign-in for good.
    pub async fn renewable_key(&self, key_hash: &str) -> Result<Option<principal::Model>> {
        let Some(k) = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(api_key::Column::ExpiresAt.is_not_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(self.principal_by_id(&k.principal_id).await?.filter(|p| p.oidc_subject.is_some()))
    }
}

/// Makes the principal a verified token names, or brings its groups up to date.
async fn upsert_in(txn: &DatabaseTransaction, org_id: &str, who: &OidcIdentity) -> Result<principal::Model> {
    let mut groups: Vec<String> = who.groups.iter().filter(|g| validate_group(g).is_ok()).cloned().collect();
    groups.sort();
    groups.dedup();
    groups.truncate(MAX_GROUPS);
    let groups = serde_json::to_string(&groups).expect("json");
    let existing = principal::Entity::find()
        .filter(principal::Column::OidcIssuer.eq(&who.issuer))
        .filter(principal::Column::OidcSubject.eq(&who.subject))
        .one(txn)
        .await?;
    Ok(match existing {
        Some(p) if p.org_id != org_id => {
            return Err(StoreError::Conflict(format!(
                "{:?} of {} signed in to another org before: ask a platform operator",
                who.display, who.issuer
            )));
        }
        Some(p) => {
            let mut am: principal::ActiveModel = p.into();
            am.groups = Set(Some(groups));
            am.update(txn).await?
        }
        None => {
            // The display name, unless another principal (or group) holds it already: then the
            // subject tells the two apart.
            let taken = principal::Entity::find()
                .filter(principal::Column::OrgId.eq(org_id))
                .filter(principal::Column::Name.eq(&who.display))
                .one(txn)
                .await?
                .is_some();
            let name = if taken { format!("{}#{}", who.display, who.subject) } else { who.display.clone() };
            principal::ActiveModel {
                oidc_issuer: Set(Some(who.issuer.clone())),
                oidc_subject: Set(Some(who.subject.clone())),
                groups: Set(Some(groups)),
                ..crate::principal_row("usr", org_id, "user", &name)
            }
            .insert(txn)
            .await?
        }
    })
}

/// Sweeps the principal's keys expired long ago and mints one that expires after `ttl`.
async fn sign_in_key_in(txn: &DatabaseTransaction, principal_id: &str, ttl: chrono::Duration) -> Result<MintedKey> {
    let now = Utc::now();
    api_key::Entity::delete_many()
        .filter(api_key::Column::PrincipalId.eq(principal_id))
        .filter(api_key::Column::ExpiresAt.lt(now - chrono::Duration::days(EXPIRED_KEYS_KEPT_DAYS)))
        .exec(txn)
        .await?;
    mint_key_in(txn, principal_id, Some(now + ttl)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::StoreError;

    fn alice(groups: &[&str]) -> OidcIdentity {
        OidcIdentity {
            issuer: "https://idp.example".into(),
            subject: crate::new_id("sub"),
            display: format!("{}@example.com", crate::new_id("alice")),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn a_sign_in_makes_the_user_once_and_its_groups_give_their_grants() {
        let (store, _d) = crate::tests::test_store().await;
        let home = crate::tests::default_org(&store).await;
        let creator = store.create_principal(&home.id, &crate::new_id("c")[..12], "user").await.unwrap();
        let org = store.create_org(&crate::new_id("o")[..12], &creator.id).await.unwrap();
        let team = format!("Platform Team {}", crate::new_id("g"));
        let group = store.ensure_group(&org.id, &team).await.unwrap();
        assert_eq!(group.kind, "group");
        assert_eq!(store.ensure_group(&org.id, &team).await.unwrap().id, group.id, "one principal per group");
        store.put_grant(&group.id, "org", &org.id, Role::Viewer).await.unwrap();

        let mut who = alice(&[&team, "other", "\u{7}bell"]);
        let hour = chrono::Duration::hours(1);
        let (p, key) = store.oidc_sign_in(&org.id, &who, hour).await.unwrap();
        assert_eq!((p.kind.as_str(), p.name.as_str()), ("user", who.display.as_str()));
        assert!(key.row.expires_at.is_some_and(|t| t > Utc::now()));
        assert_eq!(groups_of(&p), vec![team.clone(), "other".to_string()], "control characters are dropped");
        let held = store.grants_of(&p.id).await.unwrap();
        assert_eq!(held.len(), 1, "the group's grant");
        assert_eq!(store.authenticate(&key.raw).await.unwrap().map(|p| p.id), Some(p.id.clone()));
        // The request path's tables agree: the key, and the group's grant through the groups.
        let snap = crate::Snapshot::load(&store).await.unwrap();
        assert_eq!(snap.principal_by_key_hash(&crate::hash_key(&key.raw)).map(|p| p.id.clone()), Some(p.id.clone()));
        assert_eq!(snap.grants_of(&p.id).len(), 1);
        assert!(snap.grants_of(&group.id).len() == 1, "the group holds it itself");

        // The same subject again: the same principal; out of the group, out of its grant.
        who.groups.clear();
        let (again, _) = store.oidc_sign_in(&org.id, &who, hour).await.unwrap();
        assert_eq!(again.id, p.id);
        assert!(store.grants_of(&p.id).await.unwrap().is_empty());

        // Another subject with the same display name does not take the first one's name.
        let twin = OidcIdentity { subject: crate::new_id("sub"), ..who.clone() };
        let (other, _) = store.oidc_sign_in(&org.id, &twin, hour).await.unwrap();
        assert_ne!(other.id, p.id);
        assert_eq!(other.name, format!("{}#{}", twin.display, twin.subject));

        // An expired session key does not authenticate; it stays renewable until revoked.
        let (_, old) = store.oidc_sign_in(&org.id, &who, chrono::Duration::seconds(-1)).await.unwrap();
        let hash = crate::hash_key(&old.raw);
        assert_eq!(store.renewable_key(&hash).await.unwrap().map(|p| p.id), Some(p.id.clone()));
        store.revoke_key(std::slice::from_ref(&p.id), &old.row.id).await.unwrap();
        assert!(store.renewable_key(&hash).await.unwrap().is_none(), "revoked: not renewable");
        assert!(store.authenticate(&old.raw).await.unwrap().is_none());
        let snap = crate::Snapshot::load(&store).await.unwrap();
        assert!(snap.principal_by_key_hash(&crate::hash_key(&old.raw)).is_none(), "expired in memory too");
        assert!(snap.grants_of(&p.id).is_empty(), "out of the group, out of its grant");
        // Keys expired long ago are swept at the next sign-in.
        let (_, ancient) = store.oidc_sign_in(&org.id, &who, chrono::Duration::days(-31)).await.unwrap();
        store.oidc_sign_in(&org.id, &who, hour).await.unwrap();
        assert!(store.list_keys(std::slice::from_ref(&p.id)).await.unwrap().iter().all(|k| k.id != ancient.row.id));

        // A group's name cannot be a user's, nor the other way round.
        assert!(matches!(store.ensure_group(&org.id, &p.name).await, Err(StoreError::Conflict(_))));
        store.create_principal(&org.id, "x-team", "user").await.unwrap();
        assert!(matches!(store.ensure_group(&org.id, "x-team").await, Err(StoreError::Conflict(_))));
    }

    #[test]
    fn group_names() {
        assert!(validate_group("platform-team").is_ok());
        assert!(validate_group("/engineering/Platform Team").is_ok());
        assert!(validate_group("").is_err());
        assert!(validate_group(&"x".repeat(257)).is_err());
        assert!(validate_group("a\nb").is_err());
    }
}
