//! Tenancy, catalog, developer mode, fallback chains, the authorization matrix, revocation.

use std::time::{Duration, Instant};

use cloudops_sandbox::{KUBE_CONTEXT, Sandbox, fails, ok};
use cloudops_schemas::v1;

fn manifest(sb: &Sandbox, name: &str, text: &str) -> String {
    let p = sb.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const PAYMENTS: &str = "kind: KubernetesDeployment\nmetadata: {org: default, env: prod, name: payments-api}\nspec: {connection: prod-runner-conn, namespace: payments}\n";

#[tokio::test]
async fn developer_mode_uses_the_catalog_and_cannot_be_overridden() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    let f = manifest(&sb, "payments.yaml", PAYMENTS);
    assert_eq!(
        ok(&sb, &["resource", "apply", "-f", &f]).await.trim(),
        "default/prod/KubernetesDeployment/payments-api created"
    );
    assert_eq!(
        ok(&sb, &["resource", "apply", "-f", &f]).await.trim(),
        "default/prod/KubernetesDeployment/payments-api configured"
    );
    let list = ok(&sb, &["resource", "list"]).await;
    assert!(list.contains("default/prod/KubernetesDeployment/payments-api") && list.contains("payments"), "{list}");

    let r = "default/prod/KubernetesDeployment/payments-api";
    let pods = ok(&sb, &["kubectl", "get", "pods", "-r", r]).await;
    assert_eq!(pods.lines().count(), 3, "{pods}");
    assert!(pods.lines().skip(1).all(|l| l.starts_with("payments-api-")), "{pods}");

    // Overrides are rejected, and audited as denied.
    for extra in [&["-n", "default"][..], &["--connection", "prod-runner-conn"][..]] {
        let mut args = vec!["kubectl", "get", "pods", "-r", r];
        args.extend_from_slice(extra);
        let err = fails(&sb, &args).await;
        assert!(err.contains("derives the connection and namespace on the server"), "{err}");
    }
    let denied = ok(&sb, &["audit", "list", "--outcome", "denied", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&denied).unwrap();
    assert!(v["items"].as_array().unwrap().iter().any(|a| a["mode"] == "developer" && a["target"] == r), "{v}");

    // The runner re-checks the scope: all namespaces or a cluster-scoped kind are refused there.
    let err = fails(&sb, &["kubectl", "get", "pods", "-A", "-r", r]).await;
    assert!(err.contains("outside the resource's scope"), "{err}");
    let err = fails(&sb, &["kubectl", "get", "nodes", "-r", r]).await;
    assert!(err.contains("outside the resource's scope"), "{err}");

    let err = fails(&sb, &["kubectl", "get", "pods", "-r", "default/prod/KubernetesDeployment/nope"]).await;
    assert!(err.contains(r#"cloud resource "default/prod/KubernetesDeployment/nope" not found"#), "{err}");
    let err = fails(&sb, &["kubectl", "get", "pods", "-r", "default/prod/payments-api"]).await;
    assert!(err.contains("expected org/env/Kind/name"), "{err}");

    // A viewer granted on this resource only sees it, and nothing else.
    ok(&sb, &["principal", "create", "dev1"]).await;
    ok(&sb, &["grant", "create", "--principal", "dev1", "--scope", "resource", "-r", r, "--role", "viewer"]).await;
    let key = ok(&sb, &["apikey", "create", "--principal", "dev1"]).await.trim().to_string();
    let dev = sb.as_user(&key);
    assert_eq!(dev.cli(&["kubectl", "get", "pods", "-r", r]).await.code, 0);
    let out = dev.cli(&["kubectl", "get", "pods", "--connection", "prod-runner-conn", "-n", "payments"]).await;
    assert!(out.stderr.contains("dev1 has no access"), "{}", out.stderr);
    let out = dev.cli(&["connection", "create", "x", "--provider", "kubernetes"]).await;
    assert!(out.stderr.contains("dev1 has no access"), "{}", out.stderr);
    sb.shutdown().await;
}

#[tokio::test]
async fn connection_and_runner_fallback_chains() {
    let sb = Sandbox::start().await.unwrap();
    let _r = sb.runner_with_connection("r1").await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    ok(
        &sb,
        &["connection", "create", "c-org", "--provider", "kubernetes", "--runner", "r1", "--context", KUBE_CONTEXT],
    )
    .await;
    ok(
        &sb,
        &["connection", "create", "c-prod", "--provider", "kubernetes", "--runner", "r1", "--context", KUBE_CONTEXT],
    )
    .await;

    let err = fails(&sb, &["kubectl", "get", "pods"]).await;
    assert!(
        err.contains(
            r#"no kubernetes connection: none was named, and org "default" has no default kubernetes connection"#
        ),
        "{err}"
    );
    ok(&sb, &["connection", "set-default", "c-org"]).await;
    ok(&sb, &["kubectl", "get", "pods"]).await;
    ok(&sb, &["connection", "set-default", "c-prod", "--env", "prod"]).await;
    ok(&sb, &["kubectl", "get", "pods", "--env", "prod"]).await;
    let chain = ok(&sb, &["connection", "get-default", "--provider", "kubernetes", "--env", "prod"]).await;
    assert!(chain.starts_with("effective: c-prod (from env/prod)"), "{chain}");
    let audit = ok(&sb, &["audit", "list", "-o", "json", "--limit", "4"]).await;
    assert!(audit.contains("connection/c-prod"), "the env default was used: {audit}");
    let audit_org = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit_org.contains("connection/c-org"), "{audit_org}");

    // Runner chain: the connection's runner → org default → platform default. (On the platform
    // default a connection takes the runner's own context: picking another is for connections
    // that name the platform runner, which only platform operators create.)
    ok(&sb, &["connection", "create", "c-free", "--provider", "kubernetes"]).await;
    let err = fails(&sb, &["kubectl", "get", "pods", "--connection", "c-free"]).await;
    assert!(err.contains(r#"no runner is available for connection "c-free": connection has none, org "default" has no default, no platform default"#), "{err}");
    let shared = ok(&sb, &["runner", "generate-credentials", "shared", "--platform"]).await;
    let _shared = sb.start_runner(cloudops_schemas::RunnerCredentials::parse(&shared).unwrap()).await.unwrap();
    let err = fails(&sb, &["runner", "set-default", "r1", "--platform"]).await;
    assert!(err.contains(r#"platform runner "r1" not found"#), "{err}");
    ok(&sb, &["runner", "set-default", "shared", "--platform"]).await;
    let d = ok(&sb, &["runner", "get-default"]).await;
    assert!(d.starts_with("effective: shared (from platform)"), "{d}");
    sb.wait_routable("c-free").await.unwrap();
    let list = ok(&sb, &["runner", "list", "--all"]).await;
    assert!(list.lines().any(|l| l.starts_with("shared ") && l.contains("platform")), "{list}");
    assert!(!ok(&sb, &["runner", "list"]).await.contains("shared"));
    ok(&sb, &["runner", "set-default", "r1"]).await;
    let d = ok(&sb, &["runner", "get-default"]).await;
    assert!(d.starts_with("effective: r1 (from org/default)"), "{d}");
    ok(&sb, &["runner", "unset-default"]).await;
    ok(&sb, &["runner", "unset-default", "--platform"]).await;
    let err = fails(&sb, &["kubectl", "get", "pods", "--connection", "c-free"]).await;
    assert!(err.contains("no runner is available"), "{err}");
    sb.shutdown().await;
}

/// Every verb class × mode × role × scope, decided by the authorizer, against a table written
/// out by hand. Zero mismatches.
#[tokio::test]
async fn authorization_matrix() {
    let sb = Sandbox::start().await.unwrap();
    let store = &sb.cp.store;
    let org = sb.cp.org.clone();
    let prod = store.create_env(&org.id, "prod").await.unwrap();
    let dev = store.create_env(&org.id, "dev").await.unwrap();
    let c1 = store.create_connection(&org.id, cloudops_store::NewConnection::new("c1", "kubernetes")).await.unwrap();
    let c2 = store.create_connection(&org.id, cloudops_store::NewConnection::new("c2", "kubernetes")).await.unwrap();
    store.set_default_connection(&org.id, &prod.id, &c1).await.unwrap();
    let (r1, _) = store.apply_resource(&org.id, &prod.id, "KubernetesDeployment", "r1", &c1.id, "ns1").await.unwrap();
    let (r2, _) = store.apply_resource(&org.id, &dev.id, "KubernetesDeployment", "r2", &c2.id, "ns2").await.unwrap();

    // Targets: what an op resolves to.
    let dev_mode = |env: &str, res: &str, conn: &str| v1::ResolvedTarget {
        mode: v1::AccessMode::DeveloperMode as i32,
        org_id: org.id.clone(),
        env_id: env.into(),
        resource_id: res.into(),
        connection_id: conn.into(),
        namespace_locked: true,
        ..Default::default()
    };
    let admin_mode = |conn: &str| v1::ResolvedTarget {
        mode: v1::AccessMode::AdminMode as i32,
        org_id: org.id.clone(),
        connection_id: conn.into(),
        ..Default::default()
    };
    let admin_env = |env: &str| v1::ResolvedTarget { org_id: org.id.clone(), env_id: env.into(), ..Default::default() };
    let targets = [
        ("dev r1 (prod)", dev_mode(&prod.id, &r1.id, &c1.id)),
        ("dev r2 (dev)", dev_mode(&dev.id, &r2.id, &c2.id)),
        ("admin c1 (prod default)", admin_mode(&c1.id)),
        ("admin c2", admin_mode(&c2.id)),
        ("org-level", admin_env("")),
        ("env prod", admin_env(&prod.id)),
    ];
    // Which grant scopes cover which target (Y) — the expected table.
    let scopes: [(&str, &str, &str, [bool; 6]); 7] = [
        ("org", "org", &org.id, [true, true, true, true, true, true]),
        ("env prod", "env", &prod.id, [true, false, true, false, false, true]),
        ("env dev", "env", &dev.id, [false, true, false, false, false, false]),
        ("resource r1", "resource", &r1.id, [true, false, false, false, false, false]),
        ("connection c1", "connection", &c1.id, [false, false, true, false, false, false]),
        ("connection c2", "connection", &c2.id, [false, false, false, true, false, false]),
        ("no grant", "", "", [false; 6]),
    ];
    let roles = [
        ("viewer", cloudops_store::Role::Viewer),
        ("operator", cloudops_store::Role::Operator),
        ("admin", cloudops_store::Role::Admin),
    ];
    let verbs = [(v1::VerbClass::Read, 0), (v1::VerbClass::Operate, 1), (v1::VerbClass::Admin, 2)];
    let mut mismatches = Vec::new();
    let mut cases = 0;
    for (si, (sname, skind, sid, covers)) in scopes.iter().enumerate() {
        for (ri, (rname, role)) in roles.iter().enumerate() {
            let p = store.create_principal(&org.id, &format!("p{si}-{ri}"), "user").await.unwrap();
            if !skind.is_empty() {
                store.put_grant(&p.id, skind, sid, *role).await.unwrap();
            }
            let caller = v1::Caller {
                principal_id: p.id.clone(),
                principal_name: p.name.clone(),
                org_id: org.id.clone(),
                platform_operator: false,
            };
            for (ti, (tname, target)) in targets.iter().enumerate() {
                for (verb, need) in verbs {
                    cases += 1;
                    let expected = covers[ti] && ri >= need;
                    let d = cloudops_authorizer::authorize(
                        store,
                        v1::AuthorizeRequest {
                            caller: Some(caller.clone()),
                            target: Some(target.clone()),
                            op_name: "matrix".into(),
                            verb: verb as i32,
                            kube: None,
                            recheck: false,
                        },
                    )
                    .await;
                    if d.allowed != expected {
                        mismatches.push(format!(
                            "{rname} on {sname} × {tname} × {verb:?}: got {}, want {expected} ({})",
                            d.allowed, d.reason
                        ));
                    }
                    assert!(d.audit_id > 0, "every decision is audited");
                }
            }
        }
    }
    assert_eq!(cases, 7 * 3 * 6 * 3);
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    sb.shutdown().await;
}

async fn until(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "{what} not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.elapsed()
}

#[tokio::test]
async fn regenerate_and_delete_revoke_within_five_seconds() {
    let sb = Sandbox::start().await.unwrap();
    let old = sb.runner_with_connection("prod-runner").await.unwrap();
    let old_creds = sb.credentials("prod-runner").await.unwrap(); // a second key of generation 1
    assert!(sb.cp.store.authenticate(&old_creds.api_key).await.unwrap().is_some());

    let out = sb.cli(&["runner", "regenerate-credentials", "prod-runner"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let new_creds = cloudops_schemas::RunnerCredentials::parse(&out.stdout).unwrap();
    assert_eq!(new_creds.generation, 2);
    let cut = until("old tunnel cut", Duration::from_secs(5), async || !old.tunnel_up().await).await;
    eprintln!("old tunnel cut after {cut:?}");
    assert!(sb.cp.store.authenticate(&old_creds.api_key).await.unwrap().is_none(), "old API key still works");
    // The old runner keeps retrying and stays refused.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!old.tunnel_up().await, "old credentials reconnected");
    let err = fails(&sb, &["kubectl", "get", "pods", "--connection", "prod-runner-conn"]).await;
    assert!(err.contains("is not connected"), "{err}");
    old.stop().await;

    // New credentials work.
    let new = sb.start_runner(new_creds.clone()).await.unwrap();
    sb.wait_routable("prod-runner-conn").await.unwrap();
    assert!(sb.cp.store.authenticate(&new_creds.api_key).await.unwrap().is_some());

    // Delete: the same effect.
    let out = ok(&sb, &["runner", "delete", "prod-runner"]).await;
    assert!(out.contains("deleted"), "{out}");
    until("tunnel cut after delete", Duration::from_secs(5), async || !new.tunnel_up().await).await;
    assert!(sb.cp.store.authenticate(&new_creds.api_key).await.unwrap().is_none());
    let err = fails(&sb, &["kubectl", "get", "pods", "--connection", "prod-runner-conn"]).await;
    assert!(err.contains("no runner is available"), "{err}");
    new.stop().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_half_written() {
    let sb = Sandbox::start().await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    ok(&sb, &["connection", "create", "prod-runner-conn", "--provider", "kubernetes"]).await;
    let cases = [
        ("syntax.yaml", "kind: [unclosed\n", "manifest 1"),
        ("nospec.yaml", "kind: KubernetesDeployment\nmetadata: {env: prod, name: a}\n", "missing field `spec`"),
        (
            "kind.yaml",
            "kind: Widget\nmetadata: {env: prod, name: a}\nspec: {connection: prod-runner-conn, namespace: a}\n",
            r#"unknown kind "Widget""#,
        ),
        (
            "slash.yaml",
            "kind: KubernetesDeployment\nmetadata: {env: prod, name: a/b}\nspec: {connection: prod-runner-conn, namespace: a}\n",
            "invalid resource name",
        ),
        (
            "ctrl.yaml",
            "kind: KubernetesDeployment\nmetadata: {env: prod, name: \"a\\u0007b\"}\nspec: {connection: prod-runner-conn, namespace: a}\n",
            "invalid resource name",
        ),
        (
            "extra.yaml",
            "kind: KubernetesDeployment\nmetadata: {env: prod, name: a, color: red}\nspec: {connection: prod-runner-conn, namespace: a}\n",
            "unknown field `color`",
        ),
        (
            "conn.yaml",
            "kind: KubernetesDeployment\nmetadata: {env: prod, name: a}\nspec: {connection: nope, namespace: a}\n",
            r#"connection "nope" not found"#,
        ),
        (
            "env.yaml",
            "kind: KubernetesDeployment\nmetadata: {env: qa, name: a}\nspec: {connection: prod-runner-conn, namespace: a}\n",
            r#"environment "qa" not found"#,
        ),
        // The first manifest is fine, the second is not: neither is applied.
        (
            "two.yaml",
            "kind: KubernetesDeployment\nmetadata: {env: prod, name: good}\nspec: {connection: prod-runner-conn, namespace: a}\n---\nkind: Nope\nmetadata: {env: prod, name: bad}\nspec: {connection: prod-runner-conn, namespace: a}\n",
            "nothing applied",
        ),
    ];
    for (file, text, want) in cases {
        let f = manifest(&sb, file, text);
        let err = fails(&sb, &["resource", "apply", "-f", &f]).await;
        assert!(err.contains(want), "{file}: {err}");
    }
    assert!(sb.cp.store.list_resources(&sb.cp.org.id, None).await.unwrap().is_empty(), "something was half-written");

    for name in ["a/b", "a\u{7}b", "UPPER", ""] {
        let err = fails(&sb, &["env", "create", name]).await;
        assert!(
            err.contains("invalid environment name") || err.contains("no such API endpoint") || err.contains("error"),
            "{name:?}: {err}"
        );
    }
    let err = fails(&sb, &["grant", "create", "--principal", "ghost", "--scope", "org", "--role", "viewer"]).await;
    assert!(err.contains(r#"principal "ghost" not found"#), "{err}");
    let err = fails(&sb, &["connection", "delete", "nope"]).await;
    assert!(err.contains(r#"connection "nope" not found"#), "{err}");

    // Oversized bodies are refused before anything is parsed.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/orgs/default/resources", sb.gateway_url()))
        .bearer_auth(&sb.api_key)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    assert!(r.status() == 413 || r.status() == 400, "{}", r.status());
    sb.shutdown().await;
}

/// An org admin registers at most `--max-runners-per-org` runners (each costs the hub an
/// account on every node); asking again for one already registered, a platform runner, and a
/// deleted one's room still work.
#[tokio::test]
async fn an_org_registers_at_most_its_limit_of_runners() {
    let sb = Sandbox::start_with(|c| c.max_runners_per_org = 2).await.unwrap();
    ok(&sb, &["runner", "generate-credentials", "a"]).await;
    ok(&sb, &["runner", "generate-credentials", "b"]).await;
    let err = fails(&sb, &["runner", "generate-credentials", "c"]).await;
    assert!(
        err.contains(r#"org "default" has 2 runners, the most one org may register on this control plane"#),
        "{err}"
    );
    let list = ok(&sb, &["runner", "list"]).await;
    assert!(!list.lines().any(|l| l.starts_with("c ")), "nothing was registered:\n{list}");
    ok(&sb, &["runner", "generate-credentials", "a"]).await;
    ok(&sb, &["runner", "generate-credentials", "shared", "--platform"]).await;
    ok(&sb, &["runner", "delete", "b"]).await;
    ok(&sb, &["runner", "generate-credentials", "c"]).await;
    sb.shutdown().await;
}
