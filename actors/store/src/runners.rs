//! Runners: registration, credentials, admission, presence, and the lists other parts walk.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};

use crate::{Change, MintedKey, Result, Store, StoreError, mint_key_in, new_id, principal, runner, validate_name};

impl Store {
    /// Registers the runner (with its service account) if it does not exist yet. `scope` is
    /// the org, or None for a platform runner; `sa_org` is the org its service account lives in.
    /// An org holds at most `max_in_org` runners (None: no limit; platform runners are not
    /// counted): each costs the hub an account on every node, built at registration.
    pub async fn ensure_runner(
        &self,
        scope: Option<&str>,
        sa_org: &str,
        name: &str,
        max_in_org: Option<u64>,
    ) -> Result<runner::Model> {
        validate_name("runner", name)?;
        let existing = match scope {
            Some(org) => self.find_runner(org, name).await?,
            None => self.find_platform_runner(name).await?,
        };
        if let Some(r) = existing {
            return Ok(r);
        }
        let txn = self.write_txn().await?;
        if let (Some(org), Some(max)) = (scope, max_in_org) {
            // Registrations in one org wait for each other here (on PostgreSQL the org's row is
            // locked to the end of the transaction; SQLite has one writer), so the count holds.
            let org_row = crate::org::Entity::find_by_id(org).lock_exclusive().one(&txn).await?;
            let org_name = org_row.map(|o| o.name).unwrap_or_else(|| org.to_string());
            let held = runner::Entity::find().filter(runner::Column::OrgId.eq(org)).count(&txn).await?;
            if held >= max {
                return Err(StoreError::Conflict(format!(
                    "org {org_name:?} has {held} runners, the most one org may register on this control plane: \
                     delete runners it no longer uses (planton runner delete), or ask the platform operator \
                     to raise the limit"
                )));
            }
        }
        let now = Utc::now();
        let id = new_id("rnr");
        let sa = principal::ActiveModel {
            id: Set(new_id("sa")),
            org_id: Set(sa_org.into()),
            kind: Set("service_account".into()),
            name: Set(format!("runner-{}", &id[4..])),
            platform_operator: Set(false),
            runner_id: Set(Some(id.clone())),
            created_at: Set(now),
            oidc_issuer: Set(None),
            oidc_subject: Set(None),
            groups: Set(None),
        }
        .insert(&txn)
        .await?;
        let r = runner::ActiveModel {
            id: Set(id),
            org_id: Set(scope.map(String::from)),
            name: Set(name.into()),
            generation: Set(1),
            cert_fingerprint: Set(None),
            service_account_id: Set(sa.id),
            revoked: Set(false),
            last_seen_at: Set(None),
            version: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.changed(vec![Change::Runner(r.id.clone())]).await;
        Ok(r)
    }

    pub async fn find_runner(&self, org_id: &str, name: &str) -> Result<Option<runner::Model>> {
        Ok(runner::Entity::find()
            .filter(runner::Column::OrgId.eq(org_id))
            .filter(runner::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    pub async fn runner_by_name(&self, org_id: &str, name: &str) -> Result<runner::Model> {
        self.find_runner(org_id, name).await?.ok_or_else(|| StoreError::NotFound { what: "runner", name: name.into() })
    }

    pub async fn runner_by_id(&self, id: &str) -> Result<Option<runner::Model>> {
        Ok(runner::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    /// Records a newly issued certificate and mints a new API key for the runner's service
    /// account. Earlier keys stay valid.
    pub async fn record_runner_credentials(&self, runner_id: &str, fingerprint: &str) -> Result<MintedKey> {
        let txn = self.write_txn().await?;
        let r = runner::Entity::find_by_id(runner_id.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "runner", name: runner_id.into() })?;
        let sa = r.service_account_id.clone();
        let mut am: runner::ActiveModel = r.into();
        am.cert_fingerprint = Set(Some(fingerprint.into()));
        am.update(&txn).await?;
        let key = mint_key_in(&txn, &sa, None).await?;
        txn.commit().await?;
        self.changed(vec![Change::Runner(runner_id.into())]).await;
        Ok(key)
    }

    /// Whether a certificate of `generation` for runner `id` may connect.
    pub async fn admit_runner(&self, id: &str, generation: u32) -> Result<Result<runner::Model, String>> {
        let Some(r) = self.runner_by_id(id).await? else {
            return Ok(Err(format!("runner {id} is not registered")));
        };
        if r.revoked {
            return Ok(Err(format!("runner {id} is revoked")));
        }
        if r.generation as u32 != generation {
            return Ok(Err(format!(
                "runner {id} credentials of generation {generation} are revoked (current generation {})",
                r.generation
            )));
        }
        Ok(Ok(r))
    }

    pub async fn touch_runner(&self, id: &str, version: &str) -> Result<()> {
        if let Some(r) = self.runner_by_id(id).await? {
            let mut am: runner::ActiveModel = r.into();
            am.last_seen_at = Set(Some(Utc::now()));
            am.version = Set(Some(version.into()));
            am.update(&self.db).await?;
        }
        Ok(())
    }

    pub async fn all_runner_ids(&self) -> Result<Vec<String>> {
        self.runner_ids(runner::Entity::find().order_by_asc(runner::Column::Id)).await
    }

    pub async fn list_runners(&self, org_id: &str) -> Result<Vec<runner::Model>> {
        Ok(runner::Entity::find()
            .filter(runner::Column::OrgId.eq(org_id))
            .order_by_asc(runner::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// The runners that may connect again (not revoked) and have connected before, the most
    /// recently seen first: the order in which a restarted hub server gets their accounts built
    /// (the runners that were connected are the ones reconnecting). One registered and never
    /// connected costs the hub nothing at a restart.
    pub async fn reconnecting_runner_ids(&self) -> Result<Vec<String>> {
        self.runner_ids(
            runner::Entity::find()
                .filter(runner::Column::Revoked.eq(false))
                .filter(runner::Column::LastSeenAt.is_not_null())
                .order_by_desc(runner::Column::LastSeenAt)
                .order_by_asc(runner::Column::Id),
        )
        .await
    }

    /// The ids a query of runners selects, without the rest of each row (a hub holds thousands).
    async fn runner_ids(&self, query: Select<runner::Entity>) -> Result<Vec<String>> {
        Ok(query.select_only().column(runner::Column::Id).into_tuple().all(&self.db).await?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::tests::test_store;

    #[tokio::test]
    async fn runners_that_reconnect_come_most_recently_seen_first() {
        let (store, _d) = test_store().await;
        // Postgres may be shared between runs: runners of this run's own names, and only those
        // are looked at.
        let org = crate::tests::default_org(&store).await;
        let run = &new_id("w")[2..10];
        let mut ids = Vec::new();
        for (name, seen_ago, revoked) in [
            ("never", None, false),
            ("long-ago", Some(600), false),
            ("just-now", Some(1), false),
            ("revoked", Some(0), true),
        ] {
            let r = store.ensure_runner(Some(&org.id), &org.id, &format!("{name}-{run}"), None).await.unwrap();
            let mut am: runner::ActiveModel = r.clone().into();
            am.last_seen_at = Set(seen_ago.map(|s| Utc::now() - Duration::seconds(s)));
            am.revoked = Set(revoked);
            am.update(&store.db).await.unwrap();
            ids.push(r.id);
        }
        let order: Vec<String> =
            store.reconnecting_runner_ids().await.unwrap().into_iter().filter(|id| ids.contains(id)).collect();
        // just-now, long-ago; neither the one never seen nor the revoked one.
        assert_eq!(order, [ids[2].clone(), ids[1].clone()]);
    }

    #[tokio::test]
    async fn an_org_registers_at_most_its_limit_of_runners_also_at_once() {
        let (store, _d) = test_store().await;
        let home = crate::tests::default_org(&store).await;
        let creator = store.create_principal(&home.id, &new_id("c")[..12], "user").await.unwrap();
        let org = store.create_org(&new_id("o")[..12], &creator.id).await.unwrap();
        let other = store.create_org(&new_id("o")[..12], &creator.id).await.unwrap();
        // Eight registrations at once for a limit of three: three get in, whatever the order.
        let mut tries = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (store, org) = (store.clone(), org.id.clone());
            tries.spawn(async move { store.ensure_runner(Some(&org), &org, &format!("r{i}"), Some(3)).await });
        }
        let results = tries.join_all().await;
        let refused: Vec<String> = results.iter().filter_map(|r| r.as_ref().err()).map(|e| e.to_string()).collect();
        assert_eq!(results.len() - refused.len(), 3, "{refused:?}");
        assert!(refused.iter().all(|e| e.contains(&format!("org {:?} has 3 runners", org.name))), "{refused:?}");
        assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StoreError::Conflict(_))));
        let held: Vec<String> = store.list_runners(&org.id).await.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(held.len(), 3);
        // A runner already registered is still found (a second credential for it, not a new runner).
        assert!(store.ensure_runner(Some(&org.id), &org.id, &held[0], Some(3)).await.is_ok());
        // Another org, and platform runners, do not count against this one.
        assert!(store.ensure_runner(Some(&other.id), &other.id, "r0", Some(3)).await.is_ok());
        let platform = format!("p-{}", &new_id("x")[2..10]);
        assert!(store.ensure_runner(None, &org.id, &platform, Some(3)).await.is_ok());
        // A deleted runner makes room.
        let gone = store.find_runner(&org.id, &held[1]).await.unwrap().unwrap();
        store.delete_runner(&gone.id).await.unwrap();
        assert!(store.ensure_runner(Some(&org.id), &org.id, "r-new", Some(3)).await.is_ok());
        assert!(store.ensure_runner(Some(&org.id), &org.id, "r-one-more", Some(3)).await.is_err());
    }
}
