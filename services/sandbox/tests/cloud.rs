//! AWS listings through a runner process with its own credentials, against moto: EC2 with
//! filters and paging, S3 buckets with their regions, the default-connection chain, and each
//! error named: wrong provider, developer mode, missing credentials, access denied.

mod support;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use cloudops_sandbox::{Sandbox, fails, ok};
use serde_json::Value;
use support::{Moto, free_port, runner_process, when_connected};
use tokio::process::{Child, Command};

/// `planton-runner` "aws-runner" as its own process, with moto's test credentials.
async fn aws_runner(sb: &Sandbox, dir: &std::path::Path) -> Child {
    runner_process(sb, "aws-runner", dir, &[("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")])
        .await
}

fn rows(table: &str) -> Vec<&str> {
    table.lines().skip(1).collect()
}

#[tokio::test]
async fn aws_listings_through_a_runner_with_its_own_credentials() {
    let sb = Sandbox::start().await.unwrap();
    let _k8s = sb.runner_with_connection("prod-runner").await.unwrap();
    let moto = Moto::start(false).await;
    // 12 reservations: with pages of 5, three pages.
    for i in 0..4 {
        moto.run_instances(&format!("pay-{i}"), Some("payments")).await;
    }
    let mut search = Vec::new();
    for i in 0..3 {
        search.push(moto.run_instances(&format!("search-{i}"), Some("search")).await);
    }
    for i in 0..5 {
        moto.run_instances(&format!("misc-{i}"), None).await;
    }
    moto.ec2(&[("Action", "StopInstances"), ("InstanceId.1", &search[0])]).await;
    moto.create_bucket("logs-eu", Some("eu-west-1")).await;
    moto.create_bucket("assets", None).await;

    let dir = tempfile::tempdir().unwrap();
    let _aws = aws_runner(&sb, dir.path()).await;
    let endpoint = format!("endpoint_url={}", moto.url);
    ok(
        &sb,
        &[
            "connection",
            "create",
            "aws-dev",
            "--provider",
            "aws",
            "--runner",
            "aws-runner",
            "--set",
            "region=eu-west-1",
            "--set",
            &endpoint,
            "--set",
            "page_size=5",
        ],
    )
    .await;

    // Every page, kubectl-like columns.
    let out = when_connected(&sb, &["aws", "ec2", "list", "--connection", "aws-dev"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    for col in ["ID", "NAME", "TYPE", "STATE", "LOCATION", "PRIVATE-IP", "PUBLIC-IP", "CREATED"] {
        assert!(header.contains(col), "{header}");
    }
    assert_eq!(rows(&out.stdout).len(), 12, "{}", out.stdout);
    let pay = rows(&out.stdout).into_iter().find(|l| l.contains("pay-0")).unwrap();
    assert!(
        pay.starts_with("i-") && pay.contains("t3.micro") && pay.contains("running") && pay.contains("eu-west-1"),
        "{pay}"
    );

    // Filters are applied by EC2.
    let out = ok(&sb, &["aws", "ec2", "list", "--connection", "aws-dev", "--filter", "tag:team=payments"]).await;
    assert_eq!(rows(&out).len(), 4, "{out}");
    assert!(rows(&out).iter().all(|l| l.contains("pay-")), "{out}");
    let args = [
        "aws",
        "ec2",
        "list",
        "--connection",
        "aws-dev",
        "--filter",
        "tag:team=search",
        "--filter",
        "instance-state-name=running",
    ];
    let out = ok(&sb, &args).await;
    assert_eq!(rows(&out).len(), 2, "{out}");
    assert!(!out.contains("search-0"), "the stopped one is filtered out: {out}");
    let out = sb.cli(&["aws", "ec2", "list", "--connection", "aws-dev", "--filter", "running"]).await;
    assert!(out.code != 0 && out.stderr.contains("invalid filter \"running\": use NAME=VALUE"), "{}", out.stderr);

    // The common row model underneath.
    let v: Value =
        serde_json::from_str(&ok(&sb, &["aws", "ec2", "list", "--connection", "aws-dev", "-o", "json"]).await).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    assert!(items.iter().all(|i| i["provider"] == "aws"
        && i["kind"] == "Instance"
        && i["attributes"]["private_ip"].as_str().is_some_and(|ip| !ip.is_empty())));

    // S3: buckets with their regions.
    let out = ok(&sb, &["aws", "s3", "list", "--connection", "aws-dev"]).await;
    let lines = rows(&out);
    assert!(lines.iter().any(|l| l.starts_with("logs-eu") && l.contains("eu-west-1")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("assets") && l.contains("us-east-1")), "{out}");

    // The default chain: without --connection, the org's default aws connection.
    ok(&sb, &["connection", "set-default", "aws-dev"]).await;
    assert_eq!(rows(&ok(&sb, &["aws", "s3", "list"]).await).len(), 2);

    // Errors, each named.
    let out = sb.cli(&["aws", "ec2", "list", "--connection", "prod-runner-conn"]).await;
    assert!(out.code != 0 && out.stderr.contains("is a kubernetes connection, not aws"), "{}", out.stderr);
    let post = async |path: &str, body: Value| {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", sb.gateway_url()))
            .bearer_auth(&sb.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (status, text) =
        post("/v1/ops/cloud/aws/ec2", serde_json::json!({"resource": "default/prod/AwsEc2Instance/web"})).await;
    assert!(status == 400 && text.contains("developer mode is not supported yet for aws"), "{status} {text}");
    let (_, text) = post("/v1/ops/cloud/aws/lambda", serde_json::json!({})).await;
    assert!(text.contains("unknown cloud listing aws/lambda"), "{text}");

    // A runner without credentials says so.
    let _bare = runner_process(&sb, "bare-runner", dir.path(), &[]).await;
    ok(
        &sb,
        &[
            "connection",
            "create",
            "aws-bare",
            "--provider",
            "aws",
            "--runner",
            "bare-runner",
            "--set",
            "region=eu-west-1",
            "--set",
            &endpoint,
        ],
    )
    .await;
    let out = when_connected(&sb, &["aws", "s3", "list", "--connection", "aws-bare"]).await;
    assert!(out.code != 0 && out.stderr.contains("the runner has no AWS credentials"), "{}", out.stderr);

    // Access denied by the cloud: a moto that checks credentials.
    let strict = Moto::start(true).await;
    let strict_endpoint = format!("endpoint_url={}", strict.url);
    ok(
        &sb,
        &[
            "connection",
            "create",
            "aws-strict",
            "--provider",
            "aws",
            "--runner",
            "aws-runner",
            "--set",
            "region=eu-west-1",
            "--set",
            &strict_endpoint,
        ],
    )
    .await;
    let out = sb.cli(&["aws", "ec2", "list", "--connection", "aws-strict"]).await;
    assert!(out.code != 0 && out.stderr.contains("AWS denied ec2:DescribeInstances"), "{}", out.stderr);

    // Throttled: EC2's RequestLimitExceeded, retried by the SDK with backoff (3 attempts), then
    // reported.
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
    let throttling = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("content-type", "text/xml").set_body_string(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
             <Message>Request limit exceeded.</Message></Error></Errors><RequestID>5d4b4a2b</RequestID></Response>",
        ))
        .expect(3)
        .named("a throttled call is tried 3 times")
        .mount(&throttling)
        .await;
    let throttled_endpoint = format!("endpoint_url={}", throttling.uri());
    let args = [
        "connection",
        "create",
        "aws-busy",
        "--provider",
        "aws",
        "--runner",
        "aws-runner",
        "--set",
        "region=eu-west-1",
    ];
    ok(&sb, &[&args[..], &["--set", &throttled_endpoint]].concat()).await;
    let out = sb.cli(&["aws", "ec2", "list", "--connection", "aws-busy"]).await;
    assert!(out.code != 0 && out.stderr.contains("AWS throttled ec2:DescribeInstances and kept throttling after retries with backoff (RequestLimitExceeded)"), "{}", out.stderr);
    throttling.verify().await;

    // An unknown region: no such endpoint.
    let args = [
        "connection",
        "create",
        "aws-nowhere",
        "--provider",
        "aws",
        "--runner",
        "aws-runner",
        "--set",
        "region=xx-nowhere-1",
    ];
    ok(&sb, &args).await;
    let out = sb.cli(&["aws", "ec2", "list", "--connection", "aws-nowhere"]).await;
    assert!(
        out.code != 0
            && out.stderr.contains(
                "cannot reach AWS for ec2:DescribeInstances in region \"xx-nowhere-1\" (is the region right?)"
            ),
        "{}",
        out.stderr
    );

    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("aws.ec2.list") && audit.contains("aws.s3.list"), "{audit}");
    sb.shutdown().await;
}

/// One runner, two AWS accounts: a connection takes the role its runner assumes from an org
/// secret, which the runner fetches over HTTP with its own API key when an op needs it. The
/// value is sealed at rest, never shown to people, and refused to another runner; the
/// runner's old key is refused as soon as its credentials are regenerated.
#[tokio::test]
async fn a_connection_assumes_a_role_kept_as_an_org_secret() {
    let sb = Sandbox::start().await.unwrap();
    let moto = Moto::start(false).await;
    let role = "arn:aws:iam::111111111111:role/ops";
    moto.create_bucket("in-own-account", None).await;
    moto.create_bucket_as(&moto.assume_role(role).await, "in-111111111111", None).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("role-arn.txt");
    std::fs::write(&file, format!("{role}\n")).unwrap();
    let set = ok(&sb, &["secret", "set", "ops-role", "--from-file", file.to_str().unwrap()]).await;
    assert_eq!(set, "secret/ops-role created\n");
    std::fs::write(dir.path().join("bad.txt"), "not-an-arn").unwrap();
    ok(&sb, &["secret", "set", "bad-role", "--from-file", dir.path().join("bad.txt").to_str().unwrap()]).await;
    let e = fails(&sb, &["secret", "set", "empty", "--from-file", dir.path().join("none.txt").to_str().unwrap()]).await;
    assert!(e.contains("--from-file") && e.contains("none.txt"), "{e}");
    // Sealed at rest: the database holds no trace of the value.
    let stored = sb.cp.store.list_secrets(&sb.cp.org.id).await.unwrap();
    assert!(stored.iter().all(|s| !s.sealed.contains("arn:aws") && s.sealed.starts_with("v1.")), "{stored:?}");

    let _aws = aws_runner(&sb, dir.path()).await;
    let endpoint = format!("endpoint_url={}", moto.url);
    let create = |name: &'static str, secret: Option<&'static str>| {
        let mut args = vec![
            "connection",
            "create",
            name,
            "--provider",
            "aws",
            "--runner",
            "aws-runner",
            "--set",
            "region=us-east-1",
        ];
        args.extend(["--set", endpoint.as_str()]);
        if let Some(s) = secret {
            args.extend(["--set-secret", s]);
        }
        args
    };
    ok(&sb, &create("aws-111", Some("role_arn=ops-role"))).await;
    ok(&sb, &create("aws-own", None)).await;
    ok(&sb, &create("aws-bad", Some("role_arn=bad-role"))).await;
    let e = fails(&sb, &create("aws-nope", Some("role_arn=missing"))).await;
    assert!(e.contains("the org has no secret \"missing\""), "{e}");
    let e = fails(&sb, &create("aws-nope", Some("region=ops-role"))).await;
    assert!(e.contains("aws connections take role_arn, external_id from secrets"), "{e}");

    // The role's account through aws-111; the runner's own account without a role.
    let out = when_connected(&sb, &["aws", "s3", "list", "--connection", "aws-111"]).await;
    assert!(
        out.code == 0 && out.stdout.contains("in-111111111111") && !out.stdout.contains("in-own-account"),
        "{out:?}"
    );
    let out = ok(&sb, &["aws", "s3", "list", "--connection", "aws-own"]).await;
    assert!(out.contains("in-own-account") && !out.contains("in-111111111111"), "{out}");
    let e = fails(&sb, &["aws", "s3", "list", "--connection", "aws-bad"]).await;
    assert!(e.contains("role_arn (from an org secret) is not an IAM role ARN") && !e.contains("not-an-arn"), "{e}");

    // People see which secret a connection uses, never its value.
    let got = ok(&sb, &["connection", "get", "aws-111", "-o", "json"]).await;
    assert!(got.contains("\"role_arn\": \"ops-role\"") && !got.contains("arn:aws"), "{got}");
    let listed = ok(&sb, &["secret", "list"]).await;
    assert!(listed.lines().any(|l| l.starts_with("ops-role") && l.contains("aws-111")), "{listed}");
    let e = fails(&sb, &["secret", "delete", "ops-role"]).await;
    assert!(e.contains("used by connection aws-111"), "{e}");
    // Without admin on the org, neither a viewer nor a connection's own admin sets, lists or
    // replaces secrets, nor reads one through the connection.
    for (who, role) in [("sec-viewer", "viewer"), ("sec-conn-admin", "admin")] {
        let user = sb.as_user(&sb.principal_on_connection(who, "aws-111", role).await);
        for args in [
            &["secret", "list"][..],
            &["secret", "set", "ops-role", "--from-file", file.to_str().unwrap()][..],
            &["secret", "delete", "bad-role"][..],
        ] {
            let out = user.cli(args).await;
            assert!(out.code != 0 && out.stderr.contains("no access"), "{who} {args:?}: {out:?}");
        }
        let got = user.cli(&["connection", "get", "aws-111", "-o", "json"]).await;
        assert!(!got.stdout.contains("arn:aws") && !got.stderr.contains("arn:aws"), "{who}: {got:?}");
    }
    let id: Value = serde_json::from_str(&got).unwrap();
    let url = format!("{}/v1/runner/connections/{}/secrets", sb.gateway_url(), id["id"].as_str().unwrap());
    let get = |key: String| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new().get(&url).bearer_auth(key).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = get(sb.api_key.clone()).await;
    assert!(status == 403 && body.contains("never shown to people"), "{status} {body}");
    let other = sb.credentials("other-runner").await.unwrap();
    let (status, body) = get(other.api_key).await;
    assert!(status == 404 && body.contains("served by this runner"), "{status} {body}");
    let creds: cloudops_schemas::RunnerCredentials =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("aws-runner.json")).unwrap()).unwrap();
    let (status, body) = get(creds.api_key.clone()).await;
    assert!(status == 200 && body.contains(role), "{status} {body}");
    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("secret.resolve") && audit.contains("not served by this runner"), "{audit}");

    // Regenerated credentials: the deployed runner's key is refused on the very next request.
    ok(&sb, &["runner", "regenerate-credentials", "aws-runner"]).await;
    let t = Instant::now();
    let (status, body) = get(creds.api_key).await;
    assert!(status == 401, "{status} {body}");
    println!("old runner key refused {} ms after regenerate-credentials returned", t.elapsed().as_millis());
    sb.shutdown().await;
}

/// A peer process on a free port (gcp-storage-emulator, Azurite), killed on drop.
async fn peer(program: &str, args: &[String], port: u16, install: &str) -> Child {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} ({install}; .ci/run installs it)"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{program} did not start ({install})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child
}

fn gce_instance(name: &str, zone: &str, status: &str, ip: &str, nat: Option<&str>) -> Value {
    let access: Vec<Value> =
        nat.map(|n| serde_json::json!({"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT", "name": "External NAT", "natIP": n, "networkTier": "PREMIUM"})).into_iter().collect();
    serde_json::json!({
        "kind": "compute#instance",
        "id": format!("{}", 1000 + name.len()),
        "creationTimestamp": "2026-11-20T09:15:00.000-08:00",
        "name": name,
        "machineType": format!("https://www.googleapis.com/compute/v1/projects/acme-prod/zones/{zone}/machineTypes/e2-small"),
        "status": status,
        "zone": format!("https://www.googleapis.com/compute/v1/projects/acme-prod/zones/{zone}"),
        "networkInterfaces": [{
            "kind": "compute#networkInterface",
            "network": "https://www.googleapis.com/compute/v1/projects/acme-prod/global/networks/default",
            "networkIP": ip,
            "name": "nic0",
            "accessConfigs": access,
        }],
        "labels": {"team": "payments"},
        "selfLink": format!("https://www.googleapis.com/compute/v1/projects/acme-prod/zones/{zone}/instances/{name}"),
    })
}

/// GCE's documented error body.
fn gce_error(code: u16, status: &str, reason: &str, message: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(code).set_body_json(serde_json::json!({
        "error": {"code": code, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}], "status": status}
    }))
}

#[tokio::test]
async fn gcp_listings_through_a_runner_with_its_own_credentials() {
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{header, method, path, query_param},
    };
    let sb = Sandbox::start().await.unwrap();
    let _k8s = sb.runner_with_connection("prod-runner").await.unwrap();

    // Compute Engine: no emulator exists, so wiremock answers with the documented REST bodies,
    // behind a token endpoint that the runner's application default credentials use.
    let gce = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "ya29.runner", "expires_in": 3599, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/cloud-platform"}),
        ))
        .mount(&gce)
        .await;
    let agg = "/compute/v1/projects/acme-prod/aggregated/instances";
    let warning = serde_json::json!({"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/asia-east1-a' on this page.", "data": [{"key": "scope", "value": "zones/asia-east1-a"}]}});
    // The client sends an empty pageToken for the first page.
    Mock::given(method("GET"))
        .and(path(agg))
        .and(query_param("pageToken", ""))
        .and(header("authorization", "Bearer ya29.runner"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "kind": "compute#instanceAggregatedList",
            "id": "projects/acme-prod/aggregated/instances",
            "items": {
                "zones/europe-west1-b": {"instances": [
                    gce_instance("pay-api-1", "europe-west1-b", "RUNNING", "10.132.0.2", Some("34.76.1.10")),
                    gce_instance("pay-worker-1", "europe-west1-b", "TERMINATED", "10.132.0.3", None),
                ]},
                "zones/asia-east1-a": warning,
            },
            "nextPageToken": "page-2",
            "selfLink": "https://www.googleapis.com/compute/v1/projects/acme-prod/aggregated/instances",
        })))
        .mount(&gce)
        .await;
    Mock::given(method("GET"))
        .and(path(agg))
        .and(query_param("pageToken", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "kind": "compute#instanceAggregatedList",
            "items": {"zones/us-central1-a": {"instances": [
                gce_instance("search-1", "us-central1-a", "RUNNING", "10.128.0.7", Some("35.1.2.3")),
            ]}},
        })))
        .mount(&gce)
        .await;
    Mock::given(method("GET"))
        .and(path("/compute/v1/projects/acme-prod/zones/europe-west1-b/instances"))
        .and(query_param("filter", "status = RUNNING"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "kind": "compute#instanceList",
            "items": [gce_instance("pay-api-1", "europe-west1-b", "RUNNING", "10.132.0.2", Some("34.76.1.10"))],
        })))
        .mount(&gce)
        .await;
    Mock::given(method("GET"))
        .and(path("/compute/v1/projects/locked/aggregated/instances"))
        .respond_with(gce_error(
            403,
            "PERMISSION_DENIED",
            "forbidden",
            "Required 'compute.instances.list' permission for 'projects/locked'",
        ))
        .mount(&gce)
        .await;
    Mock::given(method("GET"))
        .and(path("/compute/v1/projects/busy/aggregated/instances"))
        .respond_with(gce_error(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Rate Limit Exceeded"))
        // Up to 4 attempts within the 3 s budget; the client's adaptive throttling may spend
        // part of that budget waiting, so at least one retry is what is certain.
        .expect(2..=4)
        .named("a throttled call is retried")
        .mount(&gce)
        .await;
    Mock::given(method("GET"))
        .and(path("/compute/v1/projects/acme-prod/zones/mars-north1-a/instances"))
        .respond_with(gce_error(
            400,
            "INVALID_ARGUMENT",
            "invalid",
            "Invalid value for field 'zone': 'mars-north1-a'. Unknown zone.",
        ))
        .mount(&gce)
        .await;

    // Cloud Storage: gcp-storage-emulator, seeded over its JSON API.
    let gcs_port = free_port();
    let _gcs = peer(
        "python3",
        &["-m", "gcp_storage_emulator", "start", "--host=127.0.0.1", &format!("--port={gcs_port}"), "--in-memory"]
            .map(String::from),
        gcs_port,
        "pip install gcp-storage-emulator",
    )
    .await;
    let gcs = format!("http://127.0.0.1:{gcs_port}");
    for name in ["acme-logs", "acme-assets"] {
        let r = reqwest::Client::new()
            .post(format!("{gcs}/storage/v1/b?project=acme-prod"))
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket {name}: {}", r.status());
    }

    let dir = tempfile::tempdir().unwrap();
    let adc = dir.path().join("adc.json");
    let adc_json = serde_json::json!({
        "type": "authorized_user", "client_id": "cid.apps.googleusercontent.com", "client_secret": "runner-only",
        "refresh_token": "1//runner-only", "token_uri": format!("{}/token", gce.uri()),
    });
    std::fs::write(&adc, adc_json.to_string()).unwrap();
    let _gcp = runner_process(
        &sb,
        "gcp-runner",
        dir.path(),
        &[("GOOGLE_APPLICATION_CREDENTIALS", adc.to_str().unwrap()), ("GCE_METADATA_HOST", "127.0.0.1:9")],
    )
    .await;
    let (compute_url, storage_url) = (format!("endpoint_url={}", gce.uri()), format!("storage_endpoint_url={gcs}"));
    ok(
        &sb,
        &[
            "connection",
            "create",
            "gcp-dev",
            "--provider",
            "gcp",
            "--runner",
            "gcp-runner",
            "--set",
            "project=acme-prod",
            "--set",
            &compute_url,
            "--set",
            &storage_url,
        ],
    )
    .await;

    // All zones, every page, kubectl-like columns.
    let out = when_connected(&sb, &["gcp", "compute", "list", "--connection", "gcp-dev"]).await;
    if out.code != 0 {
        for r in gce.received_requests().await.unwrap_or_default() {
            eprintln!("wiremock got {} {} {:?}", r.method, r.url, r.headers.get("authorization"));
        }
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    for col in ["NAME", "ZONE", "MACHINE-TYPE", "STATUS", "INTERNAL-IP", "EXTERNAL-IP", "CREATED"] {
        assert!(header.contains(col), "{header}");
    }
    let lines = rows(&out.stdout);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let api = lines.iter().find(|l| l.starts_with("pay-api-1")).unwrap();
    for cell in ["europe-west1-b", "e2-small", "RUNNING", "10.132.0.2", "34.76.1.10"] {
        assert!(api.contains(cell), "{api}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("search-1") && l.contains("us-central1-a")),
        "the second page: {}",
        out.stdout
    );
    assert!(lines.iter().any(|l| l.starts_with("pay-worker-1") && l.contains("TERMINATED") && l.contains("<none>")));

    // One zone, with a filter applied by Compute Engine.
    let args = [
        "gcp",
        "compute",
        "list",
        "--connection",
        "gcp-dev",
        "--zone",
        "europe-west1-b",
        "--filter",
        "status = RUNNING",
    ];
    let out = ok(&sb, &args).await;
    assert_eq!(rows(&out).len(), 1, "{out}");
    let v: Value =
        serde_json::from_str(&ok(&sb, &["gcp", "compute", "list", "--connection", "gcp-dev", "-o", "json"]).await)
            .unwrap();
    assert!(v["items"].as_array().unwrap().iter().all(|i| i["provider"] == "gcp" && i["kind"] == "Instance"));

    // Buckets from the emulator.
    let out = ok(&sb, &["gcp", "storage", "list", "--connection", "gcp-dev"]).await;
    assert!(out.lines().next().unwrap().contains("STORAGE-CLASS"), "{out}");
    let lines = rows(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().any(|l| l.starts_with("acme-logs") && l.contains("STANDARD")), "{out}");

    // Errors, each named, non-zero.
    let e = fails(&sb, &["gcp", "compute", "list", "--connection", "gcp-dev", "--project", "locked"]).await;
    assert!(
        e.contains("GCP denied compute.instances.aggregatedList (project locked)") && e.contains("permission"),
        "{e}"
    );
    let e = fails(&sb, &["gcp", "compute", "list", "--connection", "gcp-dev", "--project", "busy"]).await;
    assert!(e.contains("GCP throttled") && e.contains("after retries with backoff"), "{e}");
    let e = fails(&sb, &["gcp", "compute", "list", "--connection", "gcp-dev", "--zone", "mars-north1-a"]).await;
    assert!(e.contains("Unknown zone"), "{e}");
    let e = fails(&sb, &["gcp", "storage", "list", "--connection", "prod-runner-conn"]).await;
    assert!(e.contains("is a kubernetes connection, not gcp"), "{e}");

    // A runner without credentials says so.
    let _bare = runner_process(&sb, "bare-gcp", dir.path(), &[("GCE_METADATA_HOST", "127.0.0.1:9")]).await;
    ok(
        &sb,
        &[
            "connection",
            "create",
            "gcp-bare",
            "--provider",
            "gcp",
            "--runner",
            "bare-gcp",
            "--set",
            "project=acme-prod",
            "--set",
            &compute_url,
        ],
    )
    .await;
    let out = when_connected(&sb, &["gcp", "compute", "list", "--connection", "gcp-bare"]).await;
    assert!(out.code != 0 && out.stderr.contains("the runner has no GCP credentials"), "{}", out.stderr);

    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("gcp.compute.list") && audit.contains("gcp.storage.list"), "{audit}");
    gce.verify().await;
    sb.shutdown().await;
}

fn azure_vm(name: &str, group: &str, size: &str, power: &str) -> Value {
    serde_json::json!({
        "name": name,
        "id": format!("/subscriptions/sub-1/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"),
        "type": "Microsoft.Compute/virtualMachines",
        "location": "westeurope",
        "properties": {
            "vmId": "0f47b100-583c-48e3-a4c0-aefc2c9bbcc1",
            "hardwareProfile": {"vmSize": size},
            "provisioningState": "Succeeded",
            "instanceView": {"statuses": [
                {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
                {"code": format!("PowerState/{power}"), "level": "Info", "displayStatus": format!("VM {power}")},
            ]},
            "timeCreated": "2026-11-20T08:00:00.0000000+00:00",
        },
    })
}

fn arm_error(status: u16, code: &str, message: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(status)
        .insert_header("x-ms-failure-cause", "gateway")
        .set_body_json(serde_json::json!({"error": {"code": code, "message": message}}))
}

#[tokio::test]
async fn azure_listings_through_a_runner_with_its_own_credentials() {
    use azure_storage::{CloudLocation, StorageCredentials};
    use azure_storage_blobs::prelude::{ClientBuilder, PublicAccess};
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{header, method, path, query_param, query_param_is_missing},
    };
    let sb = Sandbox::start().await.unwrap();
    let _k8s = sb.runner_with_connection("prod-runner").await.unwrap();

    // Resource Manager: wiremock with the documented bodies, behind Entra ID's token endpoint
    // that the runner's environment credential (a service principal) uses.
    let arm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0eXAi.runner"}),
        ))
        .mount(&arm)
        .await;
    let all = "/subscriptions/sub-1/providers/Microsoft.Compute/virtualMachines";
    Mock::given(method("GET"))
        .and(path(all))
        .and(query_param("api-version", "2024-07-01"))
        .and(query_param("statusOnly", "true"))
        .and(query_param_is_missing("$skiptoken"))
        .and(header("authorization", "Bearer eyJ0eXAi.runner"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": [
                azure_vm("pay-api-1", "payments-rg", "Standard_D2s_v3", "running"),
                azure_vm("pay-batch-1", "payments-rg", "Standard_D4s_v3", "deallocated"),
            ],
            "nextLink": format!("{}{all}?api-version=2024-07-01&statusOnly=true&$skiptoken=page-2", arm.uri()),
        })))
        .mount(&arm)
        .await;
    Mock::given(method("GET"))
        .and(path(all))
        .and(query_param("$skiptoken", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": [azure_vm("search-1", "search-rg", "Standard_B2s", "running")],
        })))
        .mount(&arm)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriptions/sub-1/resourceGroups/search-rg/providers/Microsoft.Compute/virtualMachines"))
        .and(query_param("$expand", "instanceView"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": [azure_vm("search-1", "search-rg", "Standard_B2s", "running")],
        })))
        .mount(&arm)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriptions/locked/providers/Microsoft.Compute/virtualMachines"))
        .respond_with(arm_error(403, "AuthorizationFailed", "The client 'runner-sp' with object id '7f1c' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read' over scope '/subscriptions/locked' or the scope is invalid."))
        .mount(&arm)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriptions/busy/providers/Microsoft.Compute/virtualMachines"))
        .respond_with(
            arm_error(429, "TooManyRequests", "The request is being throttled.").insert_header("retry-after", "0"),
        )
        .expect(4)
        .named("a throttled call is tried 4 times")
        .mount(&arm)
        .await;

    // Blob containers: Azurite, seeded with the SDK and the emulator's well-known key.
    let blob_port = free_port();
    let azurite_dir = tempfile::tempdir().unwrap();
    let azurite = std::env::var("CLOUDOPS_AZURITE_BLOB").unwrap_or_else(|_| "azurite-blob".into());
    let _azurite = peer(
        &azurite,
        &[
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &blob_port.to_string(),
            "--location",
            azurite_dir.path().to_str().unwrap(),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ]
        .map(String::from),
        blob_port,
        "npm install azurite",
    )
    .await;
    let account = azure_storage::EMULATOR_ACCOUNT;
    let blob_url = format!("http://127.0.0.1:{blob_port}/{account}");
    let seed = ClientBuilder::with_location(
        CloudLocation::Custom { account: account.into(), uri: blob_url.clone() },
        StorageCredentials::access_key(account, azure_storage::EMULATOR_ACCOUNT_KEY),
    );
    let svc = seed.blob_service_client();
    svc.container_client("logs").create().await.unwrap();
    svc.container_client("public-assets").create().public_access(PublicAccess::Blob).await.unwrap();
    svc.container_client("locked-state").create().await.unwrap();
    svc.container_client("locked-state")
        .acquire_lease(azure_core::request_options::LeaseDuration::Infinite)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let _az = runner_process(
        &sb,
        "azure-runner",
        dir.path(),
        &[
            ("AZURE_TENANT_ID", "tenant-1"),
            ("AZURE_CLIENT_ID", "runner-sp"),
            ("AZURE_CLIENT_SECRET", "runner-only"),
            ("AZURE_AUTHORITY_HOST", &arm.uri()),
            ("AZURE_STORAGE_ACCOUNT", account),
            ("AZURE_STORAGE_KEY", azure_storage::EMULATOR_ACCOUNT_KEY),
        ],
    )
    .await;
    let (arm_url, blob_setting) = (format!("endpoint_url={}", arm.uri()), format!("blob_endpoint_url={blob_url}"));
    let account_setting = format!("account={account}");
    ok(
        &sb,
        &[
            "connection",
            "create",
            "azure-dev",
            "--provider",
            "azure",
            "--runner",
            "azure-runner",
            "--set",
            "subscription=sub-1",
            "--set",
            &arm_url,
            "--set",
            &account_setting,
            "--set",
            &blob_setting,
        ],
    )
    .await;

    // Every VM of the subscription, following nextLink.
    let out = when_connected(&sb, &["azure", "vm", "list", "--connection", "azure-dev"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    for col in ["NAME", "RESOURCE-GROUP", "LOCATION", "SIZE", "POWER-STATE", "CREATED"] {
        assert!(header.contains(col), "{header}");
    }
    let lines = rows(&out.stdout);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let batch = lines.iter().find(|l| l.starts_with("pay-batch-1")).unwrap();
    for cell in ["payments-rg", "westeurope", "Standard_D4s_v3", "deallocated"] {
        assert!(batch.contains(cell), "{batch}");
    }
    assert!(lines.iter().any(|l| l.starts_with("search-1")), "the second page: {}", out.stdout);
    let out = ok(&sb, &["azure", "vm", "list", "--connection", "azure-dev", "--resource-group", "search-rg"]).await;
    assert_eq!(rows(&out).len(), 1, "{out}");
    assert!(rows(&out)[0].contains("running"), "{out}");

    // Containers from Azurite.
    let out = ok(&sb, &["azure", "blob", "list", "--connection", "azure-dev"]).await;
    assert!(out.lines().next().unwrap().contains("LAST-MODIFIED"), "{out}");
    let lines = rows(&out);
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines.iter().any(|l| l.starts_with("public-assets") && l.contains("blob")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("locked-state") && l.contains("leased")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("logs") && l.contains("none") && l.contains("available")), "{out}");

    // Errors, each named, non-zero.
    let e = fails(&sb, &["azure", "vm", "list", "--connection", "azure-dev", "--subscription", "locked"]).await;
    assert!(e.contains("Azure denied") && e.contains("AuthorizationFailed"), "{e}");
    let e = fails(&sb, &["azure", "vm", "list", "--connection", "azure-dev", "--subscription", "busy"]).await;
    assert!(e.contains("Azure throttled") && e.contains("after retries with backoff"), "{e}");
    let e = fails(&sb, &["azure", "blob", "list", "--connection", "azure-dev", "--account", "nosuchaccount"]).await;
    assert!(e.contains("storage account nosuchaccount"), "{e}");
    let e = fails(&sb, &["azure", "vm", "list", "--connection", "prod-runner-conn"]).await;
    assert!(e.contains("is a kubernetes connection, not azure"), "{e}");

    // A runner without credentials says so.
    let _bare = runner_process(&sb, "bare-azure", dir.path(), &[]).await;
    ok(
        &sb,
        &[
            "connection",
            "create",
            "azure-bare",
            "--provider",
            "azure",
            "--runner",
            "bare-azure",
            "--set",
            "subscription=sub-1",
            "--set",
            &arm_url,
        ],
    )
    .await;
    let out = when_connected(&sb, &["azure", "vm", "list", "--connection", "azure-bare"]).await;
    assert!(out.code != 0 && out.stderr.contains("the runner has no Azure credentials"), "{}", out.stderr);

    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("azure.vm.list") && audit.contains("azure.blob.list"), "{audit}");
    arm.verify().await;
    sb.shutdown().await;
}
