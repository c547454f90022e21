//! A PostgreSQL restart under a running control plane: requests fail with a clear error while
//! it is down, and the service recovers by itself, without a restart. The test runs its own
//! PostgreSQL server (initdb on a free port), never the machine's.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use cloudops_sandbox::{Sandbox, ok};

/// A PostgreSQL server of this test's own, stopped when dropped.
struct OwnPostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Runs the tools as this user (PostgreSQL refuses to run as root).
    as_user: Option<String>,
}

fn postgres_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|b| b.join("initdb").is_file()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().expect("PostgreSQL's server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin")
}

impl OwnPostgres {
    fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("cloudops-pg-").tempdir().unwrap();
        let as_user = rustix::process::geteuid().is_root().then(|| "postgres".to_string());
        if as_user.is_some() {
            let uid = Command::new("id").args(["-u", "postgres"]).output().unwrap();
            let uid: u32 =
                String::from_utf8_lossy(&uid.stdout).trim().parse().expect("a `postgres` user to run PostgreSQL as");
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        }
        let pg = Self {
            data: dir.path().join("data"),
            _dir: dir,
            bin: postgres_bin(),
            port: std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
            as_user,
        };
        let data = pg.data.display().to_string();
        pg.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        pg.up();
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool);
        let mut cmd = match &self.as_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&tool);
                c
            }
            None => Command::new(&tool),
        };
        let out = cmd.args(args).output().unwrap();
        assert!(out.status.success(), "{} {args:?}: {}", tool.display(), String::from_utf8_lossy(&out.stderr));
    }

    fn up(&self) {
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.socket_dir().display());
        let (data, log) = (self.data.display().to_string(), self.data.with_extension("log").display().to_string());
        self.run("pg_ctl", &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"]);
    }

    fn down(&self, mode: &str) {
        self.run("pg_ctl", &["-D", &self.data.display().to_string(), "-m", mode, "-w", "stop"]);
    }

    fn socket_dir(&self) -> &Path {
        self.data.parent().unwrap()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let tool = self.bin.join("pg_ctl");
        let mut cmd = match &self.as_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&tool);
                c
            }
            None => Command::new(&tool),
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}

#[tokio::test]
async fn a_postgres_restart_fails_requests_clearly_and_heals_by_itself() {
    let pg = OwnPostgres::start();
    let url = pg.url();
    let sb = Sandbox::start_with(|c| c.database_url = Some(url)).await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let get = ["kubectl", "get", "pods", "--connection", "prod-runner-conn", "-n", "default"];
    ok(&sb, &get).await;

    // Down: an op cannot be put on record, so it is refused, and says why.
    pg.down("fast");
    let t0 = Instant::now();
    let out = sb.cli(&get).await;
    let refused_in = t0.elapsed();
    assert_ne!(out.code, 0, "an op went through with no audit record: {}", out.stdout);
    assert!(out.stderr.contains("audit log unavailable (its database cannot be reached or written"), "{}", out.stderr);
    assert!(refused_in < Duration::from_secs(15), "refused only after {refused_in:?}");
    let write = sb.cli(&["principal", "create", "during-outage"]).await;
    assert_ne!(write.code, 0);
    assert!(write.stderr.contains("database: "), "{}", write.stderr);
    println!("a write while PostgreSQL is down: {}", write.stderr.trim());

    // Back: the same processes serve again, reads and writes.
    pg.up();
    let back = Instant::now();
    let healed = loop {
        if sb.cli(&get).await.code == 0 {
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(30), "the control plane did not recover by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ok(&sb, &["principal", "create", "after-outage"]).await;
    println!(
        "PostgreSQL stopped: an op refused in {refused_in:?} with {:?}; restarted: ops served again {healed:?} later",
        out.stderr.trim()
    );
    sb.shutdown().await;
}
