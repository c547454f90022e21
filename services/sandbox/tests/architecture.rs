//! The dependency rules of ARCHITECTURE.md, checked on `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

struct Graph {
    /// package name → names of its normal (non-dev, non-build) dependencies
    normal: BTreeMap<String, BTreeSet<String>>,
    workspace: BTreeSet<String>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let vv =
        String::from_utf8(std::process::Command::new(rustc).arg("-vV").output().expect("rustc -vV").stdout).unwrap();
    let host = vv.lines().find_map(|l| l.strip_prefix("host: ")).expect("host triple").to_string();
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            &host,
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()))
        .collect();
    let workspace =
        meta["workspace_members"].as_array().unwrap().iter().map(|id| name_of[id.as_str().unwrap()].clone()).collect();
    let mut normal = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
            .map(|d| name_of[d["pkg"].as_str().unwrap()].clone())
            .collect();
        normal.insert(name_of[node["id"].as_str().unwrap()].clone(), deps);
    }
    Graph { normal, workspace }
}

impl Graph {
    fn direct(&self, pkg: &str) -> &BTreeSet<String> {
        &self.normal[pkg]
    }
    fn transitive(&self, pkg: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![pkg.to_string()];
        while let Some(p) = stack.pop() {
            for d in self.normal.get(&p).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    }
    fn who_directly(&self, dep: &str) -> BTreeSet<String> {
        self.workspace.iter().filter(|p| self.direct(p).contains(dep)).cloned().collect()
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn boundaries_hold() {
    let g = graph();
    // Only the bus knows NATS; only schemas knows prost; only the gateway (and the test peer) knows HTTP serving.
    assert_eq!(g.who_directly("async-nats"), set(&["cloudops-bus"]));
    assert_eq!(g.who_directly("prost"), set(&["cloudops-schemas"]));
    assert_eq!(g.who_directly("axum"), set(&["cloudops-gateway", "kube-testserver"]));
    // Only the runner links cloud SDKs; the control plane and the CLI never do, even transitively.
    assert_eq!(g.who_directly("kube"), set(&["cloudops-runner"]));
    for p in ["cloudops-controlplane", "cloudops-gateway", "cloudops-cli", "cloudops-bus", "cloudops-store"] {
        let t = g.transitive(p);
        for sdk in ["kube", "k8s-openapi", "aws-sdk-ec2", "aws-sdk-s3", "google-cloud-storage", "azure_storage_blobs"] {
            assert!(!t.contains(sdk), "{p} links {sdk}");
        }
    }
    // Actor crates never depend on each other.
    let actors = ["cloudops-resolver", "cloudops-authorizer", "cloudops-router"];
    for a in actors {
        for b in actors {
            assert!(!g.direct(a).contains(b), "{a} depends on {b}");
        }
    }
    // Direction: services → actors → bus → schemas.
    assert!(g.transitive("cloudops-schemas").iter().all(|d| !g.workspace.contains(d)));
    for p in ["cloudops-bus", "cloudops-store"] {
        assert!(g.direct(p).iter().filter(|d| g.workspace.contains(*d)).all(|d| d == "cloudops-schemas"), "{p}");
    }
    assert!(!g.transitive("cloudops-cli").contains("sea-orm"), "the CLI talks HTTP only");
    // One HTTP contract: the gateway serves the types of `cloudops-api` and the CLI reads them;
    // the contract knows no server, store or transport.
    for p in ["cloudops-gateway", "cloudops-cli"] {
        assert!(g.direct(p).contains("cloudops-api"), "{p} does not use the API contract");
    }
    let contract = g.transitive("cloudops-api");
    assert!(contract.iter().filter(|d| g.workspace.contains(*d)).all(|d| d == "cloudops-schemas"), "{contract:?}");
    for dep in ["axum", "reqwest", "sea-orm", "async-nats"] {
        assert!(!contract.contains(dep), "the API contract links {dep}");
    }
}
