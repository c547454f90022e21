//! The callout account is whole before the hub takes its first connection.
//!
//! A runner presents only its certificate; the hub takes it as the sentinel (a deny-all bearer
//! user of the callout account, AUTH) and asks the callout, but only if the AUTH account it
//! looked up has its external authorization. nats-server builds an account on its first lookup
//! and hands the half-built one to lookups that race it, so in a reconnect storm some runners
//! were held as the sentinel: granted nothing, reachable by nobody (bench-scale, 10,000 runners).
//! The hub's system account imports from AUTH, and the system account is built at start, before
//! the listeners open: these tests check that AUTH is loaded then, and that without the import
//! it would not be (the control).

use std::time::Duration;

use cloudops_bus::{
    accounts::{HubKeys, HubUser},
    natsd::{self, NatsServer},
};
use nats_jwt_rs::account::Account;

/// A hub in operator mode with `accounts` preloaded, and no connection yet.
async fn hub(dir: &std::path::Path, keys: &HubKeys, accounts: &[(String, String)]) -> NatsServer {
    let bin = natsd::locate().await.expect("nats-server >= 2.14 (CLOUDOPS_NATS_SERVER)");
    let op = dir.join("operator.jwt");
    std::fs::write(&op, keys.operator_jwt().unwrap()).unwrap();
    let (port, log, conf) = (natsd::free_port().unwrap(), dir.join("nats.log"), dir.join("hub.conf"));
    let preload: String = accounts.iter().map(|(k, jwt)| format!("  {k}: \"{jwt}\"\n")).collect();
    let text = format!(
        "port: {port}\nhost: \"127.0.0.1\"\nlog_file: \"{log}\"\noperator: \"{op}\"\nsystem_account: {sys}\n\
         resolver {{\n  type: full\n  dir: \"{res}\"\n}}\nresolver_preload {{\n{preload}}}\n\
         default_sentinel: \"{sentinel}\"\n",
        log = log.display(),
        op = op.display(),
        sys = keys.system_account().public_key(),
        res = dir.join("accounts").display(),
        sentinel = keys.sentinel_jwt().unwrap(),
    );
    std::fs::write(&conf, text).unwrap();
    NatsServer::start(&bin, "sentinel-hub", conf, port, log).await.expect("hub starts")
}

/// The accounts the hub has built, asked as the system user (which builds no other account).
async fn loaded_accounts(hub: &NatsServer, keys: &HubKeys) -> Vec<String> {
    let creds = keys.user_creds(HubUser::System).unwrap();
    let nc = async_nats::ConnectOptions::with_credentials(&creds)
        .unwrap()
        .connection_timeout(Duration::from_secs(5))
        .connect(hub.client_url(false))
        .await
        .expect("system user connects");
    let reply = nc.request("$SYS.REQ.SERVER.PING.ACCOUNTZ", "".into()).await.expect("ACCOUNTZ answered");
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    v["data"]["accounts"].as_array().expect("an account list").iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_callout_account_is_built_before_the_first_connection() {
    let dir = tempfile::tempdir().unwrap();
    let keys = HubKeys::load_or_create(&dir.path().join("hub-keys.secret")).unwrap();
    let hub = hub(dir.path(), &keys, &keys.hub_accounts().unwrap()).await;
    let loaded = loaded_accounts(&hub, &keys).await;
    assert!(loaded.contains(&keys.auth_account().public_key()), "AUTH not built at start: {loaded:?}");
    hub.stop().await;
}

/// The control: with a system account that imports nothing, AUTH waits for its first lookup,
/// so the test above can tell the difference.
#[tokio::test]
async fn without_the_import_the_callout_account_waits_for_its_first_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let keys = HubKeys::load_or_create(&dir.path().join("hub-keys.secret")).unwrap();
    let sys = keys.system_account().public_key();
    let plain_sys = Account::new_claims("SYS".into(), sys.clone()).encode(&keys.operator()).unwrap();
    let accounts: Vec<(String, String)> = keys
        .hub_accounts()
        .unwrap()
        .into_iter()
        .map(|(k, jwt)| if k == sys { (k, plain_sys.clone()) } else { (k, jwt) })
        .collect();
    let hub = hub(dir.path(), &keys, &accounts).await;
    let loaded = loaded_accounts(&hub, &keys).await;
    assert!(!loaded.contains(&keys.auth_account().public_key()), "{loaded:?}");
    hub.stop().await;
}
