//! Browser sign-ins through the identity provider while they are under way: between the
//! redirect to the provider and its answer (found by the `state` sent, used once), and for a
//! CLI, between that answer and the CLI redeeming the one-time code its loopback received.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait};

use crate::{Result, Store, StoreError, hash_key, oidc_exchange, oidc_login};

/// Console sign-ins under way at once (each is a row until it finishes or expires).
pub const MAX_PENDING_LOGINS: u64 = 10_000;
/// A browser sign-in between the redirect to the provider and its answer.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub verifier: String,
    pub nonce: String,
    pub return_to: String,
    /// Set when a CLI started it (`planton login --oidc` with a browser).
    pub cli: Option<CliHandoff>,
}

/// Where a CLI waits for its sign-in: its loopback URL and its PKCE challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliHandoff {
    pub redirect: String,
    pub challenge: String,
}

/// A finished sign-in waiting for its CLI to redeem the code its loopback received.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub challenge: String,
    pub principal_id: String,
    pub org: String,
    pub refresh_sealed: Option<String>,
}

impl Store {
    /// Records a console sign-in under way, found later by its `state`. Refused while too
    /// many are under way (each costs a row until it finishes or expires).
    pub async fn oidc_login_begin(&self, state: &str, login: &PendingLogin, ttl: chrono::Duration) -> Result<()> {
        let now = Utc::now();
        oidc_login::Entity::delete_many().filter(oidc_login::Column::ExpiresAt.lt(now)).exec(&self.db).await?;
        if oidc_login::Entity::find().count(&self.db).await? >= MAX_PENDING_LOGINS {
            return Err(StoreError::Busy(format!(
                "{MAX_PENDING_LOGINS} sign-ins are under way: try again in a few minutes"
            )));
        }
        oidc_login::ActiveModel {
            state_hash: Set(hash_key(state)),
            verifier: Set(login.verifier.clone()),
            nonce: Set(login.nonce.clone()),
            return_to: Set(login.return_to.clone()),
            cli_redirect: Set(login.cli.as_ref().map(|c| c.redirect.clone())),
            cli_challenge: Set(login.cli.as_ref().map(|c| c.challenge.clone())),
            expires_at: Set(now + ttl),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Takes (once) the sign-in a `state` names, unless it expired.
    pub async fn oidc_login_take(&self, state: &str) -> Result<Option<PendingLogin>> {
        let txn = self.db.begin().await?;
        let Some(row) = oidc_login::Entity::find_by_id(hash_key(state)).one(&txn).await? else { return Ok(None) };
        let deleted = oidc_login::Entity::delete_by_id(row.state_hash.clone()).exec(&txn).await?;
        txn.commit().await?;
        // Two callbacks with one state: only the one that deleted the row goes on.
        if deleted.rows_affected != 1 || row.expires_at < Utc::now() {
            return Ok(None);
        }
        let cli =
            row.cli_redirect.zip(row.cli_challenge).map(|(redirect, challenge)| CliHandoff { redirect, challenge });
        Ok(Some(PendingLogin { verifier: row.verifier, nonce: row.nonce, return_to: row.return_to, cli }))
    }

    /// Keeps a finished sign-in for its CLI, under a one-time `code`, for `ttl`.
    pub async fn oidc_exchange_put(&self, code: &str, x: &Exchange, ttl: chrono::Duration) -> Result<()> {
        let now = Utc::now();
        oidc_exchange::Entity::delete_many().filter(oidc_exchange::Column::ExpiresAt.lt(now)).exec(&self.db).await?;
        oidc_exchange::ActiveModel {
            code_hash: Set(hash_key(code)),
            challenge: Set(x.challenge.clone()),
            principal_id: Set(x.principal_id.clone()),
            org: Set(x.org.clone()),
            refresh_sealed: Set(x.refresh_sealed.clone()),
            expires_at: Set(now + ttl),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Takes (once) the sign-in a CLI's `code` names, unless it expired.
    pub async fn oidc_exchange_take(&self, code: &str) -> Result<Option<Exchange>> {
        let txn = self.db.begin().await?;
        let Some(row) = oidc_exchange::Entity::find_by_id(hash_key(code)).one(&txn).await? else { return Ok(None) };
        let deleted = oidc_exchange::Entity::delete_by_id(row.code_hash.clone()).exec(&txn).await?;
        txn.commit().await?;
        if deleted.rows_affected != 1 || row.expires_at < Utc::now() {
            return Ok(None);
        }
        Ok(Some(Exchange {
            challenge: row.challenge,
            principal_id: row.principal_id,
            org: row.org,
            refresh_sealed: row.refresh_sealed,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pending_console_sign_in_is_taken_once() {
        let (store, _d) = crate::tests::test_store().await;
        let state = crate::new_id("state");
        let cli = CliHandoff { redirect: "http://127.0.0.1:5000/callback".into(), challenge: "c".into() };
        let login = PendingLogin { verifier: "v".into(), nonce: "n".into(), return_to: "/orgs".into(), cli: Some(cli) };
        store.oidc_login_begin(&state, &login, chrono::Duration::minutes(10)).await.unwrap();
        assert!(store.oidc_login_take("forged").await.unwrap().is_none());
        let got = store.oidc_login_take(&state).await.unwrap().expect("pending");
        assert_eq!((got.verifier.as_str(), got.return_to.as_str()), ("v", "/orgs"));
        assert_eq!(got.cli.map(|c| c.redirect), Some("http://127.0.0.1:5000/callback".to_string()));
        assert!(store.oidc_login_take(&state).await.unwrap().is_none(), "used once");
        let late = crate::new_id("state");
        store.oidc_login_begin(&late, &login, chrono::Duration::seconds(-1)).await.unwrap();
        assert!(store.oidc_login_take(&late).await.unwrap().is_none(), "expired");
    }

    #[tokio::test]
    async fn a_cli_hand_off_is_redeemed_once() {
        let (store, _d) = crate::tests::test_store().await;
        let x = Exchange { challenge: "c".into(), principal_id: "usr-x".into(), org: "o".into(), refresh_sealed: None };
        let code = crate::new_id("code");
        store.oidc_exchange_put(&code, &x, chrono::Duration::minutes(2)).await.unwrap();
        assert!(store.oidc_exchange_take("forged").await.unwrap().is_none());
        assert_eq!(store.oidc_exchange_take(&code).await.unwrap().map(|x| x.principal_id), Some("usr-x".into()));
        assert!(store.oidc_exchange_take(&code).await.unwrap().is_none(), "used once");
        let late = crate::new_id("code");
        store.oidc_exchange_put(&late, &x, chrono::Duration::seconds(-1)).await.unwrap();
        assert!(store.oidc_exchange_take(&late).await.unwrap().is_none(), "expired");
    }
}
