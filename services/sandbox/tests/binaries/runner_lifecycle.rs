//! The runner's lifecycle through the shipped binaries: `planton runner install` from the
//! control plane's builds, `planton runner deploy` to the Kubernetes API test server and to
//! AWS ECS on moto (GCP Cloud Run and Azure Container Apps: `deploy_cloud_run.rs`,
//! `deploy_container_apps.rs`).

use super::{Env, bin, serve, stops_cleanly, support};
use tokio::process::Command;

#[tokio::test]
async fn runner_install_verifies_what_the_control_plane_serves() {
    let env = Env::new();
    // A release directory with one tampered build: its published checksum is not its bytes'.
    let releases = env.home.parent().unwrap().join("releases");
    let old = releases.join("0.0.9");
    std::fs::create_dir_all(&old).unwrap();
    let file = format!("planton-runner-{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    std::fs::write(old.join(&file), b"#!/bin/sh\necho tampered\n").unwrap();
    std::fs::write(old.join("SHA256SUMS"), format!("{}  {file}\n", "0".repeat(64))).unwrap();
    let (child, _) = serve(&env, &["--runner-builds", releases.to_str().unwrap()]).await;

    // By default: the control plane's own version, the planton-runner built beside it.
    let (code, out, err) = env.planton(&["runner", "install"]).await;
    assert_eq!(code, 0, "{err}");
    let installed = env.home.join("bin").join("planton-runner");
    assert!(out.contains(&installed.display().to_string()) && out.contains("sha256 "), "{out}");
    let built = std::fs::read(bin("planton-runner")).unwrap();
    assert!(std::fs::read(&installed).unwrap() == built, "the installed runner is the served one, byte for byte");
    let version = Command::new(&installed).arg("--version").output().await.unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")), "{version:?}");

    // An unknown version is named, with those on offer.
    let (code, _, err) = env.planton(&["runner", "install", "--version", "9.9.9"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("runner version 9.9.9 is not available"), "{err}");
    assert!(err.contains("0.0.9") && err.contains(env!("CARGO_PKG_VERSION")), "{err}");

    // A download that does not match its published checksum is refused; nothing changes.
    let (code, _, err) = env.planton(&["runner", "install", "--version", "0.0.9"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("checksum mismatch") && err.contains("nothing was installed"), "{err}");
    assert!(std::fs::read(&installed).unwrap() == built, "the installed runner is untouched");
    let leftovers: Vec<_> = std::fs::read_dir(env.home.join("bin")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, ["planton-runner"], "no partial download is left behind");

    // The builds are for callers with a key.
    let out =
        env.cmd("planton").args(["runner", "install"]).env("PLANTON_API_KEY", "cok_not-a-key").output().await.unwrap();
    assert!(!out.status.success(), "an unknown key downloads nothing");
    stops_cleanly(child).await;
}

#[tokio::test]
async fn runner_deploy_to_kubernetes_applies_the_charts_objects_and_updates_in_place() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::new();
    let (child, _) = serve(&env, &[]).await;
    let cluster = kube_testserver::Cluster::default();
    let kube = kube_testserver::KubeTestServer::start("127.0.0.1:0".parse().unwrap(), cluster.clone()).await.unwrap();
    let kubeconfig = env.home.parent().unwrap().join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig("sandbox")).unwrap();
    let kc = kubeconfig.to_str().unwrap();

    // Without a terminal, the missing flag is named.
    let (code, _, err) = env.planton(&["runner", "deploy", "edge", "--kubeconfig", kc]).await;
    assert!(
        code != 0 && err.contains("--target is required when not on a terminal") && err.contains("aws-ecs"),
        "{err}"
    );
    // A dry run shows the objects, mints nothing and changes nothing.
    let (code, out, err) = env
        .planton(&["runner", "deploy", "edge", "--target", "kubernetes", "--dry-run", "-o", "json", "--kubeconfig", kc])
        .await;
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = list["items"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["Namespace", "ServiceAccount", "ClusterRoleBinding", "ClusterRole", "ClusterRoleBinding", "Deployment"]
    );
    assert!(!env.planton(&["runner", "list"]).await.1.contains("edge"), "a dry run registers nothing");
    assert!(cluster.audit_events().is_empty(), "a dry run sends nothing to the cluster");

    // The deploy: credentials minted and put in the Secret, objects applied server-side. A
    // re-run applies what the flags say, so the same ones are given again below.
    let role_arn = "eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/edge";
    let env = &env;
    let deploy = |tag: &'static str| {
        let args = ["runner", "deploy", "edge", "--target", "kubernetes", "--image-tag", tag, "--kubeconfig", kc];
        let args: Vec<&str> = args.into_iter().chain(["--service-account-annotation", role_arn]).collect();
        async move { env.planton(&args).await }
    };
    let (code, out, err) = deploy("1.0.0").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deployment/edge-planton-runner serverside-applied"), "{out}");
    assert!(out.contains("secret/edge-planton-runner-credentials serverside-applied"), "{out}");
    assert!(env.planton(&["runner", "list"]).await.1.contains("edge"), "the runner is registered");
    let get = |path: String| {
        let url = format!("{}{path}", kube.url());
        async move { reqwest::get(url).await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let secret = get("/api/v1/namespaces/planton/secrets/edge-planton-runner-credentials".into()).await;
    let creds = {
        use base64::Engine;
        let b64 = secret["data"]["credentials.json"].as_str().unwrap();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
    };
    let creds = cloudops_schemas::RunnerCredentials::parse(&creds).unwrap();
    assert_eq!(creds.runner_name, "edge");
    let sa = get("/api/v1/namespaces/planton/serviceaccounts/edge-planton-runner".into()).await;
    assert_eq!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], "arn:aws:iam::123456789012:role/edge");
    let role = get("/apis/rbac.authorization.k8s.io/v1/clusterroles/edge-planton-runner".into()).await;
    assert!(!role["rules"].to_string().contains("\"secrets\""), "no Secrets unless asked: {role}");
    let deployment = "/apis/apps/v1/namespaces/planton/deployments/edge-planton-runner".to_string();
    let before = get(deployment.clone()).await;
    let container = &before["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "cloudops:1.0.0");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let applied: Vec<String> =
        cluster.audit_events().into_iter().filter(|e| e.method == "PATCH").map(|e| e.request_uri).collect();
    // Checked by the API server (dryRun=All) before the credentials were minted, then applied.
    assert!(applied.len() == 14 && applied.iter().all(|u| u.contains("fieldManager=planton")), "{applied:?}");
    assert!(
        applied[..7].iter().all(|u| u.contains("dryRun=All")) && !applied[7..].iter().any(|u| u.contains("dryRun"))
    );

    // Again with another tag: the image changes, nothing else; no new credentials.
    let (code, out, err) = deploy("1.0.1").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("secret/edge-planton-runner-credentials kept"), "{out}");
    let after = get(deployment).await;
    assert_eq!(after["spec"]["template"]["spec"]["containers"][0]["image"], "cloudops:1.0.1");
    let mut expected = before["spec"].clone();
    expected["template"]["spec"]["containers"][0]["image"] = "cloudops:1.0.1".into();
    assert_eq!(after["spec"], expected, "only the image changed");
    let kept = get("/api/v1/namespaces/planton/secrets/edge-planton-runner-credentials".into()).await;
    assert_eq!(kept["metadata"]["resourceVersion"], secret["metadata"]["resourceVersion"]);
    let sa = get("/api/v1/namespaces/planton/serviceaccounts/edge-planton-runner".into()).await;
    assert_eq!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], "arn:aws:iam::123456789012:role/edge");

    // A narrower --rbac removes what it no longer grants, as `helm upgrade` would.
    let edge_with = |extra: &[&str]| {
        let base = ["runner", "deploy", "edge", "--target", "kubernetes", "--kubeconfig", kc];
        let args: Vec<String> = base.iter().chain(extra).map(|a| a.to_string()).collect();
        async move { env.planton(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let (code, out, err) = edge_with(&["--image-tag", "1.0.1", "--rbac", "view"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("clusterrole/edge-planton-runner deleted (no longer asked for)"), "{out}");
    let gone =
        reqwest::get(format!("{}/apis/rbac.authorization.k8s.io/v1/clusterroles/edge-planton-runner", kube.url()));
    assert_eq!(gone.await.unwrap().status(), 404);

    // Another's object of the same name is refused before anything is minted or changed.
    cluster
        .upsert(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": "edge3-planton-runner-view" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
            "subjects": [{ "kind": "ServiceAccount", "name": "someone", "namespace": "elsewhere" }],
        }))
        .unwrap();
    let (code, _, err) =
        env.planton(&["runner", "deploy", "edge3", "--target", "kubernetes", "--kubeconfig", kc]).await;
    assert!(code != 0 && err.contains("already binds the runner in namespace elsewhere"), "{err}");
    assert!(!env.planton(&["runner", "list"]).await.1.contains("edge3"), "nothing minted for a refused deploy");

    // Another runner's credentials file is not deployed as this one's.
    let other = env.home.parent().unwrap().join("other-creds");
    let (code, _, err) =
        env.planton(&["runner", "generate-credentials", "other", "--output-dir", other.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    let file = other.join("credentials.json");
    let (code, _, err) = edge_with(&["--credentials-file", file.to_str().unwrap()]).await;
    assert!(code != 0 && err.contains("holds the credentials of runner \"other\", not \"edge\""), "{err}");

    // Another target's missing flag is named, before minting anything.
    let (code, _, err) = env.planton(&["runner", "deploy", "edge2", "--target", "gcp-cloud-run"]).await;
    assert!(code != 0 && err.contains("--project is required for --target gcp-cloud-run"), "{err}");
    assert!(!env.planton(&["runner", "list"]).await.1.contains("edge2"));
    stops_cleanly(child).await;
    kube.stop().await;
}

/// The Helm route with no checkout: Helm itself reads the control plane's chart repository
/// (`<gateway>/v1/charts`, trusted through its CA as `helm --ca-file` would), pulls the runner's
/// chart, and renders it with a credentials file the control plane minted.
#[tokio::test]
async fn helm_pulls_the_runner_chart_from_the_control_planes_repository() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::new();
    let (child, url) = serve(&env, &[]).await;
    let work = env.home.parent().unwrap().join("helm");
    let creds_dir = work.join("creds");
    let (code, _, err) =
        env.planton(&["runner", "generate-credentials", "edge", "--output-dir", creds_dir.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    let ca = work.join("ca.pem");
    std::fs::write(&ca, cloudops_cli::CliConfig::load(&env.home).unwrap().ca_cert).unwrap();
    let pulled = work.join("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/helm_repo.py");
    let creds = creds_dir.join("credentials.json");
    let out = Command::new("python3")
        .arg(script)
        .args([&format!("{url}/v1/charts"), creds.to_str().unwrap(), pulled.to_str().unwrap()])
        .env("SSL_CERT_FILE", &ca)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "Helm (pip install helm-python-sdk; .ci/run installs it) failed:\n{stdout}\n{stderr}"
    );
    let seen: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let chart = format!("planton-runner-{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(seen["chart"], chart.as_str(), "{seen}");
    assert_eq!(seen["archive"], format!("{chart}.tgz").as_str(), "{seen}");
    assert_eq!(seen["archive_digest"], format!("sha256:{}", seen["index_digest"].as_str().unwrap()).as_str(), "{seen}");
    for object in [
        "Deployment/prod-planton-runner",
        "Secret/prod-planton-runner-credentials",
        "ServiceAccount/prod-planton-runner",
    ] {
        assert!(seen["objects"].as_array().unwrap().iter().any(|o| o == object), "{object}: {seen}");
    }
    use base64::Engine as _;
    let secret =
        base64::engine::general_purpose::STANDARD.decode(seen["secret"]["credentials.json"].as_str().unwrap()).unwrap();
    assert_eq!(secret, std::fs::read(&creds).unwrap(), "the runner gets the credentials file as minted");

    // A file the repository does not hold is named, with the one it does.
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()])
        .build()
        .unwrap();
    let r = client.get(format!("{url}/v1/charts/planton-runner-9.9.9.tgz")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(body.contains("planton-runner-9.9.9.tgz") && body.contains(&format!("{chart}.tgz")), "{body}");
    stops_cleanly(child).await;
}

/// One call of an AWS JSON API, as the AWS CLI would send it (moto does not check signatures).
async fn aws_json(url: &str, service: &str, target: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(url)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=x"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(status.is_success(), "{target}: {v}");
    v
}

#[tokio::test]
async fn runner_deploy_to_aws_ecs_keeps_the_credentials_in_secrets_manager() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::new();
    let (child, _) = serve(&env, &[]).await;
    let moto = support::Moto::start(false).await;
    aws_json(
        &moto.url,
        "ecs",
        "AmazonEC2ContainerServiceV20141113.CreateCluster",
        serde_json::json!({"clusterName": "ops"}),
    )
    .await;
    // ECS checks the subnets: two real ones (in moto's EC2).
    let tag =
        |xml: &str, t: &str| xml.split(&format!("<{t}>")).nth(1).and_then(|r| r.split('<').next()).unwrap().to_string();
    let vpc = tag(&moto.ec2(&[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")]).await, "vpcId");
    let mut subnets = Vec::new();
    for cidr in ["10.0.1.0/24", "10.0.2.0/24"] {
        let xml = moto.ec2(&[("Action", "CreateSubnet"), ("VpcId", &vpc), ("CidrBlock", cidr)]).await;
        subnets.push(tag(&xml, "subnetId"));
    }
    let subnets = subnets.join(",");
    let subnets = subnets.as_str();
    let sg_xml = moto
        .ec2(&[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", "runner"),
            ("GroupDescription", "egress only"),
            ("VpcId", &vpc),
        ])
        .await;
    let sg = tag(&sg_xml, "groupId");
    let sg = sg.as_str();
    let aws_env = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "eu-west-1"),
    ];
    let deploy = |name: &'static str, cluster: &'static str, tag: &'static str| {
        let mut c = env.cmd("planton");
        c.args(["runner", "deploy", name, "--target", "aws-ecs", "--cluster", cluster, "--image-tag", tag])
            .args(["--subnets", subnets, "--security-groups", sg])
            .args(["--execution-role-arn", "arn:aws:iam::123456789012:role/ecsTaskExecution"])
            .envs(aws_env);
        async move {
            let out = c.output().await.unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).to_string(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        }
    };
    let (code, out, err) = deploy("edge", "ops", "1.0.0").await;
    assert_eq!(code, 0, "{err}");
    for line in [
        "secret planton-runner/edge created",
        "task definition planton-runner-edge:1 registered",
        "service planton-runner-edge created in cluster ops",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    let secret = |name: &'static str| {
        aws_json(&moto.url, "secretsmanager", "secretsmanager.GetSecretValue", serde_json::json!({"SecretId": name}))
    };
    let first = secret("planton-runner/edge").await;
    let creds = cloudops_schemas::RunnerCredentials::parse(first["SecretString"].as_str().unwrap()).unwrap();
    assert_eq!(creds.runner_name, "edge");
    let service = || {
        aws_json(
            &moto.url,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeServices",
            serde_json::json!({"cluster": "ops", "services": ["planton-runner-edge"]}),
        )
    };
    let s = service().await;
    let svc = &s["services"][0];
    assert_eq!((svc["desiredCount"].as_i64(), svc["launchType"].as_str()), (Some(1), Some("FARGATE")), "{svc}");
    let placed = svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"].as_array().unwrap();
    assert_eq!(placed.iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(","), subnets, "{svc}");
    let task = |arn: String| {
        aws_json(
            &moto.url,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
            serde_json::json!({"taskDefinition": arn}),
        )
    };
    let td = task(svc["taskDefinition"].as_str().unwrap().to_string()).await;
    let container = &td["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(container["image"], "cloudops:1.0.0");
    // The image's entrypoint is cloudops: the task sets its own, or the runner never starts.
    assert_eq!(container["entryPoint"], serde_json::json!(["/usr/local/bin/planton-runner"]));
    assert_eq!(container["command"][0], "start");
    assert_eq!(container["secrets"][0]["name"], "PLANTON_RUNNER_CREDENTIALS");
    assert_eq!(container["secrets"][0]["valueFrom"], first["ARN"], "the task reads the secret, not a copy");

    // Again with another tag: a new revision, the service moved to it, the credentials kept.
    let (code, out, err) = deploy("edge", "ops", "1.0.1").await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("secret planton-runner/edge kept") && out.contains("service planton-runner-edge updated"),
        "{out}"
    );
    let s = service().await;
    let td = task(s["services"][0]["taskDefinition"].as_str().unwrap().to_string()).await;
    assert_eq!(td["taskDefinition"]["revision"], 2);
    assert_eq!(td["taskDefinition"]["containerDefinitions"][0]["image"], "cloudops:1.0.1");
    assert_eq!(secret("planton-runner/edge").await["VersionId"], first["VersionId"], "no new credentials");

    // A secret of the same name that planton did not make is refused, never written to.
    aws_json(
        &moto.url,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        serde_json::json!({"Name": "planton-runner/edge3", "SecretString": "{}"}),
    )
    .await;
    let (code, _, err) = deploy("edge3", "ops", "1.0.0").await;
    assert!(code != 0 && err.contains("exists but was not made by planton for runner edge3"), "{err}");
    assert_eq!(secret("planton-runner/edge3").await["SecretString"], "{}");

    // A cluster that is not there is named, and nothing is minted for it.
    let (code, _, err) = deploy("edge2", "nope", "1.0.0").await;
    assert!(code != 0 && err.contains("ECS cluster \"nope\" not found"), "{err}");
    assert!(!env.planton(&["runner", "list"]).await.1.contains("edge2"));
    stops_cleanly(child).await;
}
