//! The red team (issue 12): each test replays one attack that worked on an earlier main, with
//! the real hub, real leaf nodes built from a runner's own credentials and the HTTP API, and
//! checks that it stops working.

use std::time::Duration;

use async_nats::jetstream;
use cloudops_bus::streams;
use cloudops_sandbox::{Sandbox, fails, ok};
use futures::StreamExt as _;

/// Collects everything that arrives on `sub` within `window`.
async fn drain(sub: &mut async_nats::Subscriber, window: Duration) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(window, sub.next()).await {
        got.push(format!("{} ← {}", m.subject, String::from_utf8_lossy(&m.payload)));
    }
    got
}

async fn stream_messages(sb: &Sandbox, runner: &cloudops_schemas::RunnerId) -> (u64, u64) {
    let js = jetstream::new(sb.cp.nats.clone());
    let mut s = js.get_stream(streams::runner_stream(runner)).await.unwrap();
    let info = s.info().await.unwrap();
    (info.state.messages, info.state.bytes)
}

/// The replicas' change feed (`cloudops.control.changes`) and roster (`cloudops.control.replicas`)
/// live in the control plane's account: a runner can neither announce a change (which would
/// make replicas re-read, or block writers on a fake replica) nor hear one, directly or by
/// aiming a reply there.
#[tokio::test]
async fn a_runner_cannot_reach_the_replicas_change_feed() {
    let sb = Sandbox::start().await.unwrap();
    let b = sb.runner_with_connection("runner-b").await.unwrap();
    let b_id = b.runner_id.clone();
    let cp = sb.cp.nats.clone();
    let mut feed = cp.subscribe("cloudops.control.>").await.unwrap();
    cp.flush().await.unwrap();
    let mut heard_by_b = b.nats.subscribe("cloudops.control.>").await.unwrap();
    b.nats.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    for subject in ["cloudops.control.changes", "cloudops.control.replicas"] {
        b.nats.publish(subject, "forged".into()).await.unwrap();
        for own in [format!("cloudops.events.{b_id}.heartbeat"), format!("cloudops.stream.{b_id}.s1.out")] {
            b.nats.publish_with_reply(own, subject, "forged".into()).await.unwrap();
        }
    }
    b.nats.flush().await.unwrap();
    // A real change, which the runner must not hear.
    ok(&sb, &["principal", "create", "watched"]).await;

    let w = Duration::from_millis(700);
    let on_feed = drain(&mut feed, w).await;
    let forged: Vec<&String> = on_feed.iter().filter(|m| m.contains("forged")).collect();
    assert!(forged.is_empty(), "a runner's messages reached the change feed: {forged:?}");
    assert!(on_feed.iter().any(|m| m.starts_with("cloudops.control.changes")), "the real change was on the feed");
    // (Its own publishes loop back inside its own leaf; nothing from the hub may arrive.)
    let heard: Vec<String> = drain(&mut heard_by_b, w).await.into_iter().filter(|m| !m.contains("forged")).collect();
    assert!(heard.is_empty(), "the runner heard the change feed: {heard:?}");
    b.stop().await;
    sb.shutdown().await;
}

/// Finding 1: runner B publishes on every subject it may publish on, with reply subjects aimed
/// at runner A's ops and inbox, A's sessions, the sessions KV bucket, the router's replies and
/// the control plane's services. Nothing reaches any of them.
#[tokio::test]
async fn a_hostile_runner_cannot_aim_replies_at_anyone_else() {
    let sb = Sandbox::start().await.unwrap();
    let a = sb.runner_with_connection("runner-a").await.unwrap();
    let b = sb.runner_with_connection("runner-b").await.unwrap();
    let (a_id, b_id) = (a.runner_id.clone(), b.runner_id.clone());

    // What A's leaf receives, what the control plane would hear, A's stream and a session entry.
    let mut at_a = a.nats.subscribe(format!("cloudops.runner.{a_id}.>")).await.unwrap();
    let mut at_a_inbox = a.nats.subscribe(format!("_INBOX.{a_id}.>")).await.unwrap();
    a.nats.flush().await.unwrap();
    let cp = sb.cp.nats.clone();
    let mut at_cp = cp.subscribe("cloudops.svc.>").await.unwrap();
    let mut at_cp_a = cp.subscribe(format!("cloudops.*.{a_id}.>")).await.unwrap();
    cp.flush().await.unwrap();
    let session = streams::new_session_id();
    let info = streams::SessionInfo::new(
        "p-victim".into(),
        "o".into(),
        a_id.to_string(),
        "runner-a".into(),
        "kubernetes.logs".into(),
    );
    streams::create_session(&cp, &session, &info).await.unwrap();
    let kv = jetstream::new(cp.clone()).get_key_value(streams::SESSIONS_BUCKET).await.unwrap();
    let revision = kv.entry(&session).await.unwrap().unwrap().revision;
    let before = stream_messages(&sb, &a_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let targets = [
        format!("cloudops.runner.{a_id}.op"),
        format!("_INBOX.{a_id}.forged"),
        format!("cloudops.stream.{a_id}.{session}.out"),
        format!("$KV.cloudops_sessions.{session}"),
        format!("cloudops.reply.{a_id}.inst.00000000000000000000000000000001"),
        "cloudops.svc.resolver.resolve".to_string(),
        "cloudops.svc.authorizer.authorize".to_string(),
    ];
    let own = [
        format!("cloudops.stream.{b_id}.s1.out"),
        format!("cloudops.reply.{b_id}.inst.00000000000000000000000000000001"),
        format!("cloudops.events.{b_id}.heartbeat"),
    ];
    for subject in &own {
        for reply in &targets {
            b.nats.publish_with_reply(subject.clone(), reply.clone(), "forged".into()).await.unwrap();
        }
    }
    b.nats.flush().await.unwrap();

    let w = Duration::from_millis(700);
    assert_eq!(drain(&mut at_a, w).await, Vec::<String>::new(), "A's ops subject");
    assert_eq!(drain(&mut at_a_inbox, w).await, Vec::<String>::new(), "A's inbox");
    assert_eq!(drain(&mut at_cp, w).await, Vec::<String>::new(), "the control plane's services");
    // (A's own heartbeats are expected there.)
    let heartbeat = format!("cloudops.events.{a_id}.heartbeat ");
    let leaked: Vec<String> = drain(&mut at_cp_a, w).await.into_iter().filter(|m| !m.starts_with(&heartbeat)).collect();
    assert!(leaked.is_empty(), "A's subjects in the control plane's account: {leaked:?}");
    assert_eq!(stream_messages(&sb, &a_id).await, before, "A's stream changed");
    assert_eq!(kv.entry(&session).await.unwrap().unwrap().revision, revision, "the session entry was written to");
    assert_eq!(streams::get_session(&cp, &session).await.unwrap().unwrap().principal_id, "p-victim");
    // B's own stream got its (forged) data: the publishes did go through.
    assert!(stream_messages(&sb, &b_id).await.0 >= targets.len() as u64);

    // Both runners still serve.
    ok(&sb, &["kubectl", "get", "pods", "--connection", "runner-a-conn", "-n", "default"]).await;
    ok(&sb, &["kubectl", "get", "pods", "--connection", "runner-b-conn", "-n", "default"]).await;
    a.stop().await;
    b.stop().await;
    sb.shutdown().await;
}

/// Finding 8: one runner filling its share of JetStream evicts only its own data.
#[tokio::test]
async fn a_runner_filling_its_stream_evicts_only_its_own_data() {
    let sb = Sandbox::start().await.unwrap();
    let a = sb.runner_with_connection("runner-a").await.unwrap();
    let b = sb.runner_with_connection("runner-b").await.unwrap();
    let js_a = jetstream::new(a.nats.clone());
    js_a.publish(format!("cloudops.stream.{}.keep.out", a.runner_id), "A's line".into()).await.unwrap().await.unwrap();
    let js_b = jetstream::new(b.nats.clone());
    let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
    let quota = cloudops_controlplane::config::TEST_RUNNER_STREAM_MAX_BYTES;
    for i in 0..(quota >> 20) + 8 {
        js_b.publish(format!("cloudops.stream.{}.flood.out", b.runner_id), chunk.clone())
            .await
            .unwrap()
            .await
            .unwrap_or_else(|e| panic!("B's publish {i}: {e}"));
    }
    let (_, b_bytes) = stream_messages(&sb, &b.runner_id).await;
    assert!(b_bytes <= quota as u64, "B's stream holds {b_bytes} bytes, over its {quota} quota");
    let (a_msgs, _) = stream_messages(&sb, &a.runner_id).await;
    assert_eq!(a_msgs, 1, "A's data was evicted by B's flood");
    a.stop().await;
    b.stop().await;
    sb.shutdown().await;
}

/// Findings 2 and 5: an org admin cannot act for the platform operator, and a runner's key
/// reads nothing of the org.
#[tokio::test]
async fn no_principal_acts_beyond_itself() {
    let sb = Sandbox::start().await.unwrap();
    ok(&sb, &["principal", "create", "org-admin"]).await;
    ok(&sb, &["grant", "create", "--principal", "org-admin", "--scope", "org", "--role", "admin"]).await;
    let key = ok(&sb, &["apikey", "create", "--principal", "org-admin"]).await.trim().to_string();
    let oa = sb.as_user(&key);
    // The bootstrap principal `admin` is a platform operator.
    for args in [
        &["apikey", "create", "--principal", "admin"][..],
        &["apikey", "list", "--principal", "admin"][..],
        &["grant", "create", "--principal", "admin", "--scope", "org", "--role", "viewer"][..],
    ] {
        let out = oa.cli(args).await;
        assert_ne!(out.code, 0, "{args:?} worked: {}", out.stdout);
        assert!(out.stderr.contains("needs a platform operator"), "{args:?}: {}", out.stderr);
    }
    let out = oa.cli(&["org", "create", "evil"]).await;
    assert!(out.code != 0 && out.stderr.contains("platform operator"), "{}", out.stderr);

    // A runner's service-account key (in every credentials.json) calls nothing of the API, and
    // signs nobody in to the console.
    let creds = sb.credentials("r1").await.unwrap();
    let login = reqwest::Client::new()
        .post(format!("{}/v1/console/login", sb.gateway_url()))
        .json(&serde_json::json!({"api_key": creds.api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    let rk = sb.as_user(&creds.api_key);
    for args in [
        &["grant", "list"][..],
        &["principal", "list"][..],
        &["connection", "list"][..],
        &["runner", "list"][..],
        &["resource", "list"][..],
        &["kubectl", "get", "pods", "--connection", "x"][..],
        &["runner", "install"][..],
    ] {
        let out = rk.cli(args).await;
        assert_ne!(out.code, 0, "runner key: {args:?} answered {}", out.stdout);
        assert!(out.stderr.contains("runner's service account"), "{args:?}: {}", out.stderr);
    }
    // Nor can an admin mint keys for it or grant it roles.
    let sa = creds_principal(&sb).await;
    let err = fails(&sb, &["apikey", "create", "--principal", &sa]).await;
    assert!(err.contains("runner's service account"), "{err}");

    // A viewer of one env reads neither grants nor principals, and sees only its env's entries.
    ok(&sb, &["env", "create", "prod"]).await;
    ok(&sb, &["env", "create", "staging"]).await;
    ok(&sb, &["principal", "create", "v"]).await;
    ok(&sb, &["grant", "create", "--principal", "v", "--scope", "env", "--env", "prod", "--role", "viewer"]).await;
    let vk = ok(&sb, &["apikey", "create", "--principal", "v"]).await.trim().to_string();
    let v = sb.as_user(&vk);
    for args in [&["grant", "list"][..], &["principal", "list"][..], &["runner", "list"][..]] {
        let out = v.cli(args).await;
        assert!(out.code != 0 && out.stderr.contains("v has no access"), "{args:?}: {}", out.stderr);
    }
    let envs = v.cli(&["env", "list"]).await;
    assert!(envs.stdout.contains("prod") && !envs.stdout.contains("staging"), "{}", envs.stdout);
    let reads = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(reads.contains("env.list") && reads.contains("grant.list"), "reads are audited: {reads}");
    sb.shutdown().await;
}

async fn creds_principal(sb: &Sandbox) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&ok(sb, &["principal", "list", "-o", "json"]).await).expect("principal list json");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["name"].as_str().filter(|n| n.starts_with("runner-")))
        .unwrap()
        .into()
}

/// Finding 3: an env admin cannot widen their env to a connection they do not administer.
#[tokio::test]
async fn an_env_admin_cannot_bind_someone_elses_connection() {
    let sb = Sandbox::start().await.unwrap();
    let _r = sb.runner_with_connection("r1").await.unwrap();
    ok(&sb, &["env", "create", "dev"]).await;
    ok(&sb, &["principal", "create", "env-admin"]).await;
    ok(&sb, &["grant", "create", "--principal", "env-admin", "--scope", "env", "--env", "dev", "--role", "admin"])
        .await;
    let key = ok(&sb, &["apikey", "create", "--principal", "env-admin"]).await.trim().to_string();
    let ea = sb.as_user(&key);
    let out = ea.cli(&["connection", "set-default", "r1-conn", "--env", "dev"]).await;
    assert!(out.code != 0 && out.stderr.contains("env-admin has no access to connection/r1-conn"), "{}", out.stderr);
    let f = sb.dir.path().join("steal.yaml");
    std::fs::write(
        &f,
        "kind: KubernetesDeployment\nmetadata: {org: default, env: dev, name: steal}\nspec: {connection: r1-conn, namespace: kube-system}\n",
    )
    .unwrap();
    let out = ea.cli(&["resource", "apply", "-f", f.to_str().unwrap()]).await;
    assert!(out.code != 0 && out.stderr.contains("env-admin has no access to connection/r1-conn"), "{}", out.stderr);
    let out = ea.cli(&["kubectl", "get", "pods", "--connection", "r1-conn", "-n", "kube-system"]).await;
    assert_ne!(out.code, 0, "{}", out.stdout);

    // Once the org admin binds it, the env's admin may use it: delegation stays possible.
    ok(&sb, &["connection", "set-default", "r1-conn", "--env", "dev"]).await;
    let out = ea.cli(&["resource", "apply", "-f", f.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    sb.shutdown().await;
}

/// Finding 6: a tenant cannot point a runner's credentials at a host of its own, nor use a
/// platform runner.
#[tokio::test]
async fn endpoint_overrides_and_platform_runners_are_for_platform_operators() {
    let sb = Sandbox::start().await.unwrap();
    ok(&sb, &["runner", "generate-credentials", "shared", "--platform"]).await;
    ok(&sb, &["principal", "create", "org-admin"]).await;
    ok(&sb, &["grant", "create", "--principal", "org-admin", "--scope", "org", "--role", "admin"]).await;
    let key = ok(&sb, &["apikey", "create", "--principal", "org-admin"]).await.trim().to_string();
    let oa = sb.as_user(&key);
    for (provider, setting) in [
        ("gcp", "endpoint_url=http://attacker.example"),
        ("gcp", "storage_endpoint_url=http://a.example"),
        ("azure", "blob_endpoint_url=http://a.example"),
        ("aws", "endpoint_url=http://a.example"),
    ] {
        let out = oa.cli(&["connection", "create", "c", "--provider", provider, "--set", setting]).await;
        assert!(
            out.code != 0 && out.stderr.contains("only a platform operator"),
            "{provider} {setting}: {}",
            out.stderr
        );
    }
    let out = oa.cli(&["connection", "create", "c", "--provider", "kubernetes", "--runner", "shared"]).await;
    assert!(out.code != 0 && out.stderr.contains("platform runner"), "{}", out.stderr);
    // Nor make it the org's default, nor pick a context on the platform default.
    let out = oa.cli(&["runner", "set-default", "shared"]).await;
    assert!(out.code != 0 && out.stderr.contains("platform operator"), "{}", out.stderr);
    ok(&sb, &["runner", "set-default", "shared", "--platform"]).await;
    let out =
        oa.cli(&["connection", "create", "other-cluster", "--provider", "kubernetes", "--context", "prod-admin"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = oa.cli(&["kubectl", "get", "pods", "--connection", "other-cluster"]).await;
    assert!(
        out.code != 0 && out.stderr.contains("only a platform operator can bind a platform runner to a context"),
        "{}",
        out.stderr
    );
    // Cloud parameters are identifiers: a storage account cannot name another host (the
    // runner's token would go there).
    ok(&sb, &["connection", "create", "az", "--provider", "azure", "--set", "subscription=sub-1"]).await;
    let out = oa.cli(&["azure", "blob", "list", "--connection", "az", "--account", "evil.example?"]).await;
    assert!(out.code != 0 && out.stderr.contains("account \"evil.example?\" is not valid"), "{}", out.stderr);
    let out = oa.cli(&["connection", "create", "az2", "--provider", "azure", "--set", "account=evil.example/x"]).await;
    assert!(out.code != 0 && out.stderr.contains("is not valid"), "{}", out.stderr);
    // The platform operator may.
    ok(&sb, &["connection", "create", "c", "--provider", "kubernetes", "--runner", "shared"]).await;
    sb.shutdown().await;
}

/// Finding 4: a viewer never reads a Secret, in any output, and the graph shows neither
/// Secrets nor cluster-scoped objects to a developer-mode viewer.
#[tokio::test]
async fn viewers_never_read_secrets() {
    let sb = Sandbox::start().await.unwrap();
    let _r = sb.runner_with_connection("r1").await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("shop.yaml");
    std::fs::write(
        &f,
        "kind: KubernetesDeployment\nmetadata: {org: default, env: prod, name: shop}\nspec: {connection: r1-conn, namespace: shop}\n",
    )
    .unwrap();
    ok(&sb, &["resource", "apply", "-f", f.to_str().unwrap()]).await;
    let r = "default/prod/KubernetesDeployment/shop";
    ok(&sb, &["principal", "create", "viewer"]).await;
    ok(&sb, &["grant", "create", "--principal", "viewer", "--scope", "resource", "-r", r, "--role", "viewer"]).await;
    ok(
        &sb,
        &[
            "grant",
            "create",
            "--principal",
            "viewer",
            "--scope",
            "connection",
            "--connection",
            "r1-conn",
            "--role",
            "viewer",
        ],
    )
    .await;
    let key = ok(&sb, &["apikey", "create", "--principal", "viewer"]).await.trim().to_string();
    let v = sb.as_user(&key);
    for args in [
        &["kubectl", "get", "secrets", "-r", r][..],
        &["kubectl", "get", "secret", "shop-db", "-r", r, "-o", "yaml"][..],
        &["kubectl", "get", "Secret", "shop-db", "-r", r, "-o", "json"][..],
        &["kubectl", "describe", "secret", "shop-db", "-r", r][..],
        &["kubectl", "get", "secrets", "--connection", "r1-conn", "-n", "shop", "-o", "yaml"][..],
        &["kubectl", "get", "secrets", "--connection", "r1-conn", "-A"][..],
    ] {
        let out = v.cli(args).await;
        assert_ne!(out.code, 0, "{args:?} answered: {}", out.stdout);
        assert!(out.stderr.contains("needs the operator role"), "{args:?}: {}", out.stderr);
    }
    let g = v.cli(&["kubectl", "graph", "-r", r, "-o", "json"]).await;
    assert_eq!(g.code, 0, "{}", g.stderr);
    assert!(g.stdout.contains("Deployment/shop"), "{}", g.stdout);
    assert!(!g.stdout.contains("\"Secret/"), "a viewer's graph lists Secrets: {}", g.stdout);
    assert!(!g.stdout.contains("\"PersistentVolume/"), "developer mode lists cluster-scoped objects: {}", g.stdout);
    // An operator reads them, as `edit` does.
    let yaml =
        ok(&sb, &["kubectl", "get", "secret", "shop-db", "--connection", "r1-conn", "-n", "shop", "-o", "yaml"]).await;
    assert!(yaml.contains("kind: Secret"), "{yaml}");
    sb.shutdown().await;
}

/// Finding 9: a platform operator's work in another org is audited in that org, visible to
/// its admins.
#[tokio::test]
async fn audit_belongs_to_the_org_acted_in() {
    let sb = Sandbox::start().await.unwrap();
    ok(&sb, &["org", "create", "acme"]).await;
    ok(&sb, &["env", "create", "staging", "--org", "acme"]).await;
    ok(&sb, &["principal", "create", "acme-admin", "--org", "acme"]).await;
    ok(&sb, &["grant", "create", "--principal", "acme-admin", "--scope", "org", "--role", "admin", "--org", "acme"])
        .await;
    let key = ok(&sb, &["apikey", "create", "--principal", "acme-admin", "--org", "acme"]).await.trim().to_string();
    let acme = sb.as_user(&key);
    let out = acme.cli(&["audit", "list", "--org", "acme", "-o", "json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("env.create"), "acme's admin does not see the operator's work in acme: {}", out.stdout);
    let home = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(!home.contains("env.create"), "the operator's work in acme is audited in its home org: {home}");

    // An exec session the operator runs in acme is acme's recording, not its home org's.
    let creds = sb.credentials_in("acme", "acme-runner").await.unwrap();
    let runner = sb.start_runner(creds).await.unwrap();
    let conn = ["--connection", "acme-k8s", "--org", "acme"];
    ok(
        &sb,
        &[
            &["connection", "create", "acme-k8s", "--provider", "kubernetes", "--runner", "acme-runner"][..],
            &conn[2..],
            &["--context", cloudops_sandbox::KUBE_CONTEXT],
        ]
        .concat(),
    )
    .await;
    let pods = ok(&sb, &[&["kubectl", "get", "pods", "-n", "default", "-o", "name"][..], &conn].concat()).await;
    let pod = pods.lines().map(|l| l.trim_start_matches("pod/")).find(|p| p.starts_with("web-")).unwrap().to_string();
    ok(&sb, &[&["kubectl", "exec", &pod, "-n", "default"][..], &conn, &["--", "echo", "hi"]].concat()).await;
    let acme_sessions = acme.cli(&["audit", "sessions", "--org", "acme", "-o", "json"]).await;
    assert!(
        acme_sessions.stdout.contains("echo"),
        "acme's admin does not see the exec in acme: {}{}",
        acme_sessions.stdout,
        acme_sessions.stderr
    );
    let home_sessions = ok(&sb, &["audit", "sessions", "-o", "json"]).await;
    assert!(
        !home_sessions.contains("echo"),
        "the exec in acme is recorded in the operator's home org: {home_sessions}"
    );
    runner.stop().await;
    sb.shutdown().await;
}

/// Finding 10: the data dir and the database are owner-only.
#[tokio::test]
async fn the_data_dir_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start().await.unwrap();
    let dir = sb.dir.path().join("control-plane");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    if !sb.database_is_postgres() {
        assert_eq!(mode(&dir.join("cloudops.db")), 0o600);
    }
    sb.shutdown().await;
}

/// Finding 7: a runner's reply does not decide whose session it is. A hostile runner (a direct
/// mTLS client with its own certificate, answering its ops) names another session, or claims
/// to be another runner; the gateway keeps the session it chose and the runner it routed to.
#[tokio::test]
async fn a_runners_reply_does_not_decide_session_identity() {
    use async_nats::ConnectOptions;
    use cloudops_schemas::{RunnerId, v1};
    let sb = Sandbox::start().await.unwrap();
    let a = sb.runner_with_connection("runner-a").await.unwrap();
    let b_creds = sb.credentials("runner-b").await.unwrap();
    ok(&sb, &["connection", "create", "b-conn", "--provider", "kubernetes", "--runner", "runner-b"]).await;
    let b_id = RunnerId::parse(b_creds.runner_id.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, &b_creds.tunnel.cert_pem).unwrap();
    std::fs::write(&k, &b_creds.tunnel.key_pem).unwrap();
    let hub = sb.cp.hub.as_ref().unwrap();
    let nc = ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(hub.ca_file().to_path_buf())
        .add_client_certificate(c, k)
        .connect(hub.client_url())
        .await
        .unwrap();
    // Mode 0: name another session; mode 1: the right session but "I am runner A".
    let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let (m, a_id, victim) = (mode.clone(), a.runner_id.to_string(), streams::new_session_id());
    let _serving = cloudops_bus::runner_link::serve_ops(nc, b_id.clone(), move |req: v1::RunnerRequest| {
        let (m, a_id, victim) = (m.clone(), a_id.clone(), victim.clone());
        async move {
            let asked = req.op.as_ref().and_then(|o| o.session()).unwrap_or_default().to_string();
            let session = if m.load(std::sync::atomic::Ordering::Relaxed) == 0 { victim } else { asked };
            let json = serde_json::json!({"session": session, "streams": 1, "runner_id": a_id});
            v1::RunnerResponse {
                result: Some(v1::runner_response::Result::Ok(v1::OpResult {
                    json: serde_json::to_vec(&json).unwrap(),
                    ..Default::default()
                })),
            }
        }
    })
    .await
    .unwrap();
    sb.wait_routable("b-conn").await.ok(); // get is answered too (with garbage), which is enough

    let http = reqwest::Client::new();
    let url = format!("{}/v1/ops/kubernetes/logs", sb.gateway_url());
    let body = serde_json::json!({"connection": "b-conn", "namespace": "default", "pod": "web-1"});
    let logs = || http.post(&url).bearer_auth(&sb.api_key).json(&body).send();
    let resp = logs().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_server_error() && body.contains("names another session"), "{status}: {body}");

    mode.store(1, std::sync::atomic::Ordering::Relaxed);
    let resp = logs().await.unwrap();
    assert_eq!(resp.status(), 201);
    let v: serde_json::Value = resp.json().await.unwrap();
    let session = v["session"].as_str().unwrap();
    let info = streams::get_session(&sb.cp.nats, session).await.unwrap().unwrap();
    assert_eq!(info.runner_id, b_id.to_string(), "the session was registered to the runner the reply claimed");
    a.stop().await;
    sb.shutdown().await;
}

/// A runner shares its JetStream stream with the recording of what people type into its exec
/// sessions, and knows each session's id and each input's sequence. It tries to keep typed input
/// out of a recording: by publishing on the record subject itself, by pre-empting the records'
/// message ids with its own output (JetStream drops a second message with an id it has seen),
/// and by reading the session's entry for the secret in those ids. The control plane then
/// records three inputs, and the recording holds each once.
#[tokio::test]
async fn a_runner_cannot_keep_typed_input_out_of_a_recording() {
    let sb = Sandbox::start().await.unwrap();
    let a = sb.runner_with_connection("runner-a").await.unwrap();
    let a_id = a.runner_id.clone();
    let cp = sb.cp.nats.clone();
    let session = streams::new_session_id();
    let info = streams::SessionInfo::new(
        "p-victim".into(),
        "o".into(),
        a_id.to_string(),
        "runner-a".into(),
        "kubernetes.exec".into(),
    );
    streams::create_session(&cp, &session, &info).await.unwrap();

    // Its own stream subject, with every message id it could make of what it knows.
    let js = jetstream::new(a.nats.clone());
    let out = streams::session_subject(&a_id, &session);
    for seq in 1..=3u64 {
        for id in [
            format!("{session}.{seq}"),
            format!("in.{session}.{seq}"),
            format!("in.{seq}"),
            format!("in..{seq}"),
            format!("{seq}"),
        ] {
            let msg = jetstream::message::PublishMessage::build().payload("forged".into()).message_id(id.as_str());
            js.send_publish(out.clone(), msg).await.unwrap().await.unwrap();
        }
    }
    // The record subject itself, plainly and through JetStream (refused: no ack comes).
    let record = streams::input_record_subject(&a_id, &session);
    a.nats.publish(record.clone(), "forged record".into()).await.unwrap();
    let msg = jetstream::message::PublishMessage::build().payload("forged record".into()).message_id("in.x.1");
    let acked = match js.send_publish(record.clone(), msg).await {
        Ok(ack) => tokio::time::timeout(Duration::from_secs(3), ack).await.is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    };
    assert!(!acked, "the runner stored a message on the record subject");
    // The session's entry, which holds the secret: not readable from the runner's account.
    let direct =
        format!("$JS.API.DIRECT.GET.KV_{}.$KV.{}.{session}", streams::SESSIONS_BUCKET, streams::SESSIONS_BUCKET);
    let got = tokio::time::timeout(Duration::from_secs(3), a.nats.request(direct, "".into())).await;
    let leaked = matches!(&got, Ok(Ok(m)) if String::from_utf8_lossy(&m.payload).contains(&info.record_key));
    assert!(!leaked, "the runner read the session's record key: {got:?}");

    // What the person typed is recorded, each input once, whatever the runner sent before.
    for seq in 1..=3u64 {
        let typed = format!("typed-{seq}");
        streams::record_input(&cp, &a_id, &session, info.input_record_id(seq), typed.into()).await.unwrap();
    }
    let recording = streams::read_recording(&cp, &a_id, &session).await.unwrap();
    futures::pin_mut!(recording);
    let mut inputs = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(3), recording.next()).await {
        let m = m.unwrap();
        if m.input {
            inputs.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
    }
    assert_eq!(inputs, ["typed-1", "typed-2", "typed-3"], "the recording's input");
    a.stop().await;
    sb.shutdown().await;
}
