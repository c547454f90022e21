//! Two control planes in one process, sharing one database and one hub: each has actors of
//! its own, a write on one is seen by a request on the other at once, and a replica that lost
//! its bus connection re-reads its state.

use std::time::{Duration, Instant};

use cloudops_controlplane::ControlPlane;
use cloudops_sandbox::{Sandbox, ok};
use serde_json::{Value, json};

struct Gateway<'a> {
    http: &'a reqwest::Client,
    url: String,
}

impl Gateway<'_> {
    fn of<'a>(http: &'a reqwest::Client, cp: &ControlPlane) -> Gateway<'a> {
        Gateway { http, url: cp.gateway_url.clone() }
    }

    async fn whoami(&self, key: &str) -> u16 {
        self.http.get(format!("{}/v1/whoami", self.url)).bearer_auth(key).send().await.unwrap().status().as_u16()
    }

    async fn pods(&self, key: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/ops/kubernetes/get", self.url))
            .bearer_auth(key)
            .json(&json!({"connection": "prod-runner-conn", "namespace": "default", "kind": "pods"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// Kicks every hub connection named `name` (the client reconnects by itself).
async fn kick_connections(sb: &Sandbox, name: &str) -> usize {
    let hub = sb.cp.hub.as_ref().unwrap();
    let sys = hub.connect_system().await.unwrap();
    let reply = sys
        .request("$SYS.REQ.SERVER.PING.CONNZ", serde_json::to_vec(&json!({"limit": 1024})).unwrap().into())
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    let server = v["server"]["id"].as_str().unwrap().to_string();
    let mut kicked = 0;
    for c in v["data"]["connections"].as_array().unwrap() {
        if c["name"] == name {
            let subject = format!("$SYS.REQ.SERVER.{server}.KICK");
            sys.request(subject, serde_json::to_vec(&json!({"cid": c["cid"]})).unwrap().into()).await.unwrap();
            kicked += 1;
        }
    }
    kicked
}

#[tokio::test]
async fn a_write_on_one_replica_holds_on_the_other_at_once() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let cp2 = sb.second_control_plane("cloudops-replica-2").await.unwrap();
    let a = &sb.cp.actors;
    let b = &cp2.actors;
    for (x, y) in [
        (a.resolver.get().unwrap().get_id(), b.resolver.get().unwrap().get_id()),
        (a.authorizer.get().unwrap().get_id(), b.authorizer.get().unwrap().get_id()),
        (a.router.get().unwrap().get_id(), b.router.get().unwrap().get_id()),
    ] {
        assert_ne!(x, y, "each control plane has actors of its own");
    }
    let http = reqwest::Client::new();
    let (one, two) = (Gateway::of(&http, &sb.cp), Gateway::of(&http, &cp2));

    // A principal, its grant and its key, made through replica one, work on replica two at once.
    ok(&sb, &["principal", "create", "dev"]).await;
    ok(&sb, &["grant", "create", "--principal", "dev", "--scope", "org", "--role", "viewer"]).await;
    let key = ok(&sb, &["apikey", "create", "--principal", "dev"]).await.trim().to_string();
    assert_eq!(two.whoami(&key).await, 200, "a new key works on the other replica on its first request");
    let (status, body) = two.pods(&key).await;
    assert_eq!(status, 200, "{body}");

    // The grant removed through replica two: refused on replica one on the very next request.
    let grants = ok(&sb, &["grant", "list", "--principal", "dev", "-o", "json"]).await;
    let grants: Value = serde_json::from_str(&grants).unwrap();
    let gid = grants["items"][0]["id"].as_str().unwrap().to_string();
    let admin = &sb.api_key;
    let r = http.delete(format!("{}/v1/orgs/default/grants/{gid}", two.url)).bearer_auth(admin).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let t = Instant::now();
    let (status, body) = one.pods(&key).await;
    assert_eq!(status, 403, "a removed grant is refused on the next request elsewhere: {body}");
    eprintln!("grant removal: refused on the other replica {:?} after the delete's response", t.elapsed());

    // The key revoked through replica one: refused on replica two on the very next request.
    let prefix = &key[..12];
    let r = http
        .delete(format!("{}/v1/orgs/default/apikeys/{prefix}?principal=dev", one.url))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert_eq!(two.whoami(&key).await, 401, "a revoked key is refused on the next request elsewhere");
    assert_eq!(one.whoami(&key).await, 401);

    // A write that no event announces (straight into the database) reaches replica two when its
    // bus connection comes back: it re-reads everything then.
    let key2 = ok(&sb, &["apikey", "create", "--principal", "dev"]).await.trim().to_string();
    assert_eq!(two.whoami(&key2).await, 200);
    let quiet = cloudops_store::Store::open(&sb.database_url).await.unwrap();
    let dev = quiet.principal_by_name(&sb.cp.org.id, "dev").await.unwrap();
    quiet.revoke_key(&[dev.id], &key2[..12]).await.unwrap();
    assert_eq!(two.whoami(&key2).await, 200, "no event, no reload yet: the bound is the reload");
    assert_eq!(kick_connections(&sb, "cloudops-replica-2").await, 1);
    let t = Instant::now();
    while two.whoami(&key2).await != 401 {
        assert!(t.elapsed() < Duration::from_secs(10), "replica two did not re-read its state after reconnecting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("reconnect: state re-read within {:?}", t.elapsed());

    cp2.shutdown().await;
    sb.shutdown().await;
}
