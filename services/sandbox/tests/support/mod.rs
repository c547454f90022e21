//! Shared by the sandbox's test files: the built binaries, free ports, moto, and runner
//! processes with environments of their own. Each test file uses part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use cloudops_sandbox::Sandbox;
use futures::StreamExt;
use tokio::process::{Child, Command};

/// target/<profile>/ — the test binary lives in target/<profile>/deps/.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(p.is_file(), "{} not built (run the workspace build first)", p.display());
    p
}

/// A port nobody listens on now, below the kernel's ephemeral range: a port the kernel hands
/// out (bind to 0) can be taken by any outgoing connection before a server binds it, or when a
/// killed server comes back on its old port; one below the range only by another listener.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|low| *low > 12_000)
        .unwrap_or(32_768);
    let (from, span) = (10_000u16, low - 10_000);
    for i in 0u64..200 {
        let port = from + (RandomState::new().hash_one(i) % u64::from(span)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A moto server on a free port; `enforce_auth` makes it check credentials like AWS does.
pub struct Moto {
    pub url: String,
    _child: Child,
}

impl Moto {
    pub async fn start(enforce_auth: bool) -> Self {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if enforce_auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd.spawn().expect("python3 runs moto (pip install 'moto[server]'; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "moto did not start: is it installed? (pip install 'moto[server]')");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { url: format!("http://127.0.0.1:{port}"), _child: child }
    }

    /// One EC2 Query API call, as the AWS CLI would send it (moto does not check signatures).
    pub async fn ec2(&self, params: &[(&str, &str)]) -> String {
        let mut form = vec![("Version", "2016-11-15")];
        form.extend_from_slice(params);
        let r = reqwest::Client::new()
            .post(&self.url)
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261121/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "moto {params:?}: {}", r.status());
        r.text().await.unwrap()
    }

    pub async fn run_instances(&self, name: &str, team: Option<&str>) -> String {
        let mut p = vec![
            ("Action", "RunInstances"),
            ("ImageId", "ami-12c6146b"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("InstanceType", "t3.micro"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", name),
        ];
        if let Some(t) = team {
            p.extend([("TagSpecification.1.Tag.2.Key", "team"), ("TagSpecification.1.Tag.2.Value", t)]);
        }
        let body = self.ec2(&p).await;
        let id = body.split("<instanceId>").nth(1).and_then(|s| s.split('<').next()).unwrap();
        id.to_string()
    }

    pub async fn create_bucket(&self, name: &str, region: Option<&str>) {
        self.create_bucket_as("testing", name, region).await
    }

    /// Temporary credentials of `role` (STS AssumeRole): moto keeps what they create in the
    /// role's account. Returns the access key id (moto does not check signatures).
    pub async fn assume_role(&self, role: &str) -> String {
        let form = [
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", "sandbox-test"),
        ];
        let r = reqwest::Client::new()
            .post(&self.url)
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261129/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "moto AssumeRole {role}: {}", r.status());
        let body = r.text().await.unwrap();
        body.split("<AccessKeyId>").nth(1).and_then(|s| s.split('<').next()).unwrap().to_string()
    }

    /// A bucket created with the credentials of `access_key` (in that key's account).
    pub async fn create_bucket_as(&self, access_key: &str, name: &str, region: Option<&str>) {
        let body = region.map(|r| {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{r}</LocationConstraint></CreateBucketConfiguration>"
            )
        });
        let r = reqwest::Client::new()
            .put(format!("{}/{name}", self.url))
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={access_key}/20261121/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
                ),
            )
            .body(body.unwrap_or_default())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket {name}: {}", r.status());
    }
}

/// `planton-runner` as its own process, with `env` as its environment (its cloud credentials).
pub async fn runner_process(sb: &Sandbox, name: &str, dir: &Path, env: &[(&str, &str)]) -> Child {
    let creds = sb.credentials(name).await.unwrap();
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_string(&creds).unwrap()).unwrap();
    let home = dir.join(format!("{name}-home"));
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(bin("planton-runner"));
    cmd.args(["start", "--credentials-file", file.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        // No instance metadata service here: do not wait for one.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Ok(n) = std::env::var("CLOUDOPS_NATS_SERVER") {
        cmd.env("CLOUDOPS_NATS_SERVER", n);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Runs `planton ARGS` until the runner behind the connection answers (its tunnel is up).
pub async fn when_connected(sb: &Sandbox, args: &[&str]) -> cloudops_sandbox::CliOutput {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = sb.cli(args).await;
        if !out.stderr.contains("is not connected") || Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads SSE events (id, event, data) until `stop` says so or `limit` passes.
pub async fn read_events(
    resp: reqwest::Response,
    limit: Duration,
    mut stop: impl FnMut(&(Option<u64>, String, String)) -> bool,
) -> Vec<(Option<u64>, String, String)> {
    let mut body = resp.bytes_stream();
    let (mut buf, mut out) = (String::new(), Vec::new());
    let (mut id, mut ev, mut data) = (None, String::from("message"), Vec::<String>::new());
    let deadline = Instant::now() + limit;
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), body.next()).await
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let line = line.trim_end();
            if line.is_empty() {
                if !data.is_empty() || ev != "message" {
                    let e = (id.take(), std::mem::replace(&mut ev, "message".into()), data.join("\n"));
                    data.clear();
                    let done = stop(&e);
                    out.push(e);
                    if done {
                        return out;
                    }
                }
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.trim_start().to_string());
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                ev = v.trim().to_string();
            }
        }
    }
    out
}

/// `POST /v1/ops/kubernetes/<op>` on `connection`'s `default` namespace, as the sandbox's admin:
/// the answer of a streaming op (201: its session, events and input URLs).
pub async fn start_session(
    sb: &Sandbox,
    http: &reqwest::Client,
    connection: &str,
    op: &str,
    mut body: serde_json::Value,
) -> serde_json::Value {
    body["connection"] = serde_json::json!(connection);
    body["namespace"] = serde_json::json!("default");
    let resp = http
        .post(format!("{}/v1/ops/kubernetes/{op}", sb.gateway_url()))
        .bearer_auth(&sb.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}
