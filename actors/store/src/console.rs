//! Web console sign-ins: an API key is exchanged once for a cookie token. The token and its
//! CSRF secret are random; only the token's hash is stored. A session lives until it expires,
//! its user signs out, or the API key it came from is revoked.

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::{Result, Store, api_key, console_session, hash_key, principal};

/// A signed-in console user, as each request sees it.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub principal: principal::Model,
    pub csrf: String,
}

/// A key with no expiry, or one still ahead.
pub(crate) fn unexpired() -> sea_orm::Condition {
    sea_orm::Condition::any().add(api_key::Column::ExpiresAt.is_null()).add(api_key::Column::ExpiresAt.gt(Utc::now()))
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

impl Store {
    /// Exchanges a raw API key for a console session: `(cookie token, user)`, or `None` for an
    /// unknown or revoked key. Expired sessions are swept on the way.
    pub async fn console_sign_in(&self, raw_key: &str, ttl: chrono::Duration) -> Result<Option<(String, ConsoleUser)>> {
        let Some(key) = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(hash_key(raw_key)))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(unexpired())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(principal) = principal::Entity::find_by_id(key.principal_id.clone()).one(&self.db).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        console_session::Entity::delete_many()
            .filter(console_session::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?;
        let (token, csrf) = (random_token(), random_token());
        console_session::Entity::insert(console_session::ActiveModel {
            token_hash: Set(hash_key(&token)),
            api_key_id: Set(key.id),
            principal_id: Set(principal.id.clone()),
            csrf: Set(csrf.clone()),
            created_at: Set(now),
            // A session never outlives its key.
            expires_at: Set(key.expires_at.map_or(now + ttl, |k| k.min(now + ttl))),
        })
        .exec(&self.db)
        .await?;
        Ok(Some((token, ConsoleUser { principal, csrf })))
    }

    /// The user behind a cookie token: `None` if unknown, expired, or its API key was revoked.
    pub async fn console_session(&self, token: &str) -> Result<Option<ConsoleUser>> {
        let Some(s) = console_session::Entity::find_by_id(hash_key(token))
            .filter(console_session::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let key_live = api_key::Entity::find_by_id(s.api_key_id.clone())
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(unexpired())
            .one(&self.db)
            .await?
            .is_some();
        if !key_live {
            return Ok(None);
        }
        let principal = principal::Entity::find_by_id(s.principal_id).one(&self.db).await?;
        Ok(principal.map(|principal| ConsoleUser { principal, csrf: s.csrf }))
    }

    pub async fn console_sign_out(&self, token: &str) -> Result<()> {
        console_session::Entity::delete_by_id(hash_key(token)).exec(&self.db).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sessions_follow_their_key() {
        let (store, _d) = crate::tests::test_store().await;
        let org = crate::tests::default_org(&store).await;
        let runner = store.ensure_runner(Some(&org.id), &org.id, &crate::new_id("c")[..12], None).await.unwrap();
        let key = store.record_runner_credentials(&runner.id, "fp").await.unwrap();
        let hour = chrono::Duration::hours(1);
        assert!(store.console_sign_in("cok_wrong", hour).await.unwrap().is_none());
        let (token, user) = store.console_sign_in(&key.raw, hour).await.unwrap().unwrap();
        assert_eq!(user.principal.id, key.row.principal_id);
        let again = store.console_session(&token).await.unwrap().expect("live session");
        assert_eq!(again.csrf, user.csrf);
        assert!(store.console_session("forged").await.unwrap().is_none());

        // Expired sessions are not accepted.
        let (old, _) = store.console_sign_in(&key.raw, chrono::Duration::seconds(-1)).await.unwrap().unwrap();
        assert!(store.console_session(&old).await.unwrap().is_none());

        // Signing out ends one session; revoking the key ends all of them.
        let (other, _) = store.console_sign_in(&key.raw, hour).await.unwrap().unwrap();
        store.console_sign_out(&other).await.unwrap();
        assert!(store.console_session(&other).await.unwrap().is_none());
        store.revoke_key(std::slice::from_ref(&key.row.principal_id), &key.row.id).await.unwrap();
        assert!(store.console_session(&token).await.unwrap().is_none());
    }
}
