//! Security invariants, on real nats-server processes: a runner receives only its own ops and
//! cannot publish as another; identities the registry does not admit are refused; the database
//! holds no private key and no raw API key.

use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use cloudops_bus::accounts::{HubKeys, HubUser};
use cloudops_gateway::CertIssuer;
use cloudops_sandbox::Sandbox;
use cloudops_schemas::{RunnerCredentials, RunnerId};
use futures::StreamExt as _;
use tokio::sync::mpsc;

struct Direct {
    client: async_nats::Client,
    events: mpsc::UnboundedReceiver<String>,
    _dir: tempfile::TempDir,
}

/// Connects straight to the hub's client port with a runner certificate (no leaf).
async fn direct(sb: &Sandbox, cert_pem: &str, key_pem: &str) -> Result<Direct, String> {
    direct_with(sb, cert_pem, key_pem, None).await
}

/// The same, presenting a user JWT of the caller's own (`.creds`).
async fn direct_with(sb: &Sandbox, cert_pem: &str, key_pem: &str, creds: Option<&str>) -> Result<Direct, String> {
    let hub = sb.cp.hub.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, cert_pem).unwrap();
    std::fs::write(&k, key_pem).unwrap();
    let (tx, events) = mpsc::unbounded_channel();
    let mut opts = ConnectOptions::new();
    if let Some(creds) = creds {
        opts = opts.credentials(creds).map_err(|e| e.to_string())?;
    }
    let client = opts
        .require_tls(true)
        .add_root_certificates(hub.ca_file().to_path_buf())
        .add_client_certificate(c, k)
        .max_reconnects(Some(1))
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                if let Event::ServerError(e) = e {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(hub.client_url())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Direct { client, events, _dir: dir })
}

async fn next_error(d: &mut Direct) -> String {
    tokio::time::timeout(Duration::from_secs(3), d.events.recv()).await.expect("a server error").expect("event")
}

async fn nothing_arrives(sub: &mut async_nats::Subscriber, what: &str) {
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        panic!("{what}: received {} on {}", String::from_utf8_lossy(&m.payload), m.subject);
    }
}

#[tokio::test]
async fn runners_are_isolated_through_leaf_and_direct() {
    let sb = Sandbox::start().await.unwrap();
    let a = sb.runner_with_connection("runner-a").await.unwrap();
    let b_creds: RunnerCredentials = sb.credentials("runner-b").await.unwrap();
    let b = sb.start_runner(b_creds.clone()).await.unwrap();
    let a_id = a.runner_id.to_string();

    // Through B's leaf: B asks for A's ops and for everything; it gets neither.
    let mut b_a = b.nats.subscribe(format!("cloudops.runner.{a_id}.>")).await.unwrap();
    let mut b_all = b.nats.subscribe(">").await.unwrap();
    b.nats.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = sb.cli(&["kubectl", "get", "pods", "--connection", "runner-a-conn", "-n", "default"]).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    nothing_arrives(&mut b_a, "B's leaf subscribed to A's ops").await;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), b_all.next()).await {
        assert!(!m.subject.contains(&a_id), "B's leaf saw {}", m.subject);
    }

    // B's leaf publishing as A (reply and stream subjects) never reaches the hub.
    let hub_cp = sb.cp.nats.clone();
    let mut replies = hub_cp.subscribe(format!("cloudops.reply.{a_id}.>")).await.unwrap();
    let mut streams = hub_cp.subscribe(format!("cloudops.stream.{a_id}.>")).await.unwrap();
    hub_cp.flush().await.unwrap();
    b.nats.publish(format!("cloudops.reply.{a_id}.x.1"), "forged".into()).await.unwrap();
    b.nats.publish(format!("cloudops.stream.{a_id}.s1.out"), "forged".into()).await.unwrap();
    b.nats.flush().await.unwrap();
    nothing_arrives(&mut replies, "forged reply from B's leaf").await;
    nothing_arrives(&mut streams, "forged stream data from B's leaf").await;

    // A direct client with B's certificate gets explicit permission violations.
    let mut d = direct(&sb, &b_creds.tunnel.cert_pem, &b_creds.tunnel.key_pem).await.unwrap();
    let _own = d.client.subscribe(format!("cloudops.runner.{}.op", b_creds.runner_id)).await.unwrap();
    d.client.flush().await.unwrap();
    let _s1 = d.client.subscribe(format!("cloudops.runner.{a_id}.op")).await.unwrap();
    let e = next_error(&mut d).await;
    assert!(e.contains("Permissions Violation for Subscription") && e.contains(&a_id), "{e}");
    let _s2 = d.client.subscribe(">").await.unwrap();
    let e = next_error(&mut d).await;
    assert!(e.contains("Permissions Violation for Subscription") && e.contains('>'), "{e}");
    d.client.publish(format!("cloudops.reply.{a_id}.x.1"), "forged".into()).await.unwrap();
    let e = next_error(&mut d).await;
    assert!(e.contains("Permissions Violation for Publish") && e.contains(&a_id), "{e}");
    nothing_arrives(&mut replies, "forged reply from a direct client").await;

    // A keeps working after all that.
    let ok = sb.cli(&["kubectl", "get", "pods", "--connection", "runner-a-conn", "-n", "default"]).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    a.stop().await;
    b.stop().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn identities_the_registry_does_not_admit_are_refused() {
    let sb = Sandbox::start().await.unwrap();
    let creds = sb.credentials("runner-b").await.unwrap();
    let id = RunnerId::parse(creds.runner_id.clone()).unwrap();
    // A certificate of a generation the registry does not have (as after a regeneration).
    let stale = sb.cp.pki.issue_runner(&id, 7).unwrap();
    let e = direct(&sb, &stale.cert_pem, &stale.key_pem).await.err().expect("refused");
    assert!(e.to_lowercase().contains("authorization"), "{e}");
    // A runner that was never registered.
    let ghost = sb.cp.pki.issue_runner(&RunnerId::parse("rnr-ghost").unwrap(), 1).unwrap();
    assert!(direct(&sb, &ghost.cert_pem, &ghost.key_pem).await.is_err());
    // The current generation is admitted.
    assert!(direct(&sb, &creds.tunnel.cert_pem, &creds.tunnel.key_pem).await.is_ok());
    sb.shutdown().await;
}

/// Operator mode: the hub trusts only accounts our operator signed. A connection with a valid
/// runner certificate that brings a user JWT of its own making (here the users of a look-alike
/// operator's control plane, callout and system accounts) is either refused or is the runner its
/// certificate names, as the callout decided: never the control plane.
#[tokio::test]
async fn a_user_jwt_of_someone_elses_making_is_refused() {
    let sb = Sandbox::start().await.unwrap();
    let creds = sb.credentials("runner-b").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let forger = HubKeys::load_or_create(&dir.path().join("forged.secret")).unwrap();
    for user in [HubUser::ControlPlane, HubUser::System, HubUser::Callout] {
        let forged = forger.user_creds(user).unwrap();
        match direct_with(&sb, &creds.tunnel.cert_pem, &creds.tunnel.key_pem, Some(&forged)).await {
            Err(e) => assert!(e.to_lowercase().contains("authorization"), "{user:?}: {e}"),
            // Refused after the handshake, or the runner its certificate names: either way it
            // never hears what the control plane's account carries.
            Ok(d) => {
                if let Ok(mut sub) = d.client.subscribe("cloudops.svc.>").await {
                    let _ = d.client.flush().await;
                    sb.cp.nats.publish("cloudops.svc.forgery-probe", "secret".into()).await.unwrap();
                    sb.cp.nats.flush().await.unwrap();
                    nothing_arrives(&mut sub, &format!("a forged {user:?} user")).await;
                }
            }
        }
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn the_database_holds_no_private_key_and_no_raw_api_key() {
    let sb = Sandbox::start().await.unwrap();
    let creds = sb.credentials("prod-runner").await.unwrap();
    let c2 = sb.credentials("prod-runner").await.unwrap();
    let out = sb.cli(&["connection", "create", "k", "--provider", "kubernetes", "--runner", "prod-runner"]).await;
    assert_eq!(out.code, 0);
    let dump = if sb.database_is_postgres() {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sb.cp.store.db();
        let mut text = String::new();
        for t in ["orgs", "principals", "api_keys", "grants", "runners", "connections", "audit_log"] {
            let rows = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT row_to_json(t)::text AS j FROM {t} t"),
                ))
                .await
                .unwrap();
            for r in rows {
                text.push_str(&r.try_get::<String>("", "j").unwrap());
            }
        }
        text
    } else {
        let dir = sb.dir.path().join("control-plane");
        let mut bytes = Vec::new();
        for f in ["cloudops.db", "cloudops.db-wal"] {
            bytes.extend(std::fs::read(dir.join(f)).unwrap_or_default());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    };
    assert!(dump.contains(&creds.runner_id), "the scan reads the data (runner id present)");
    assert!(!dump.contains("PRIVATE KEY"), "a private key is stored");
    let key_body = |k: &str| k.trim_start_matches("cok_").to_string();
    for key in [&sb.api_key, &creds.api_key, &c2.api_key] {
        assert!(!dump.contains(key_body(key).as_str()), "a raw API key is stored");
    }
    assert!(!dump.contains(&key_body(creds.tunnel.key_pem.lines().nth(1).unwrap())));
    sb.shutdown().await;
}
