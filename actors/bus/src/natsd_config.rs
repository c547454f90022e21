//! The configuration files of our nats-servers: the hub's nodes (TLS for clients and leaf
//! nodes, JetStream, operator mode with the auth callout's sentinel, the cluster's routes) and
//! each runner's leaf node (one outbound mTLS remote to every hub node).

use std::{fmt::Write as _, path::PathBuf};

fn q(s: impl AsRef<str>) -> String {
    let s = s.as_ref().replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{s}\"")
}

/// PEM files a server presents and verifies with.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl ServerTls {
    fn block(&self, verify: bool) -> String {
        format!(
            "tls {{\n    cert_file: {}\n    key_file: {}\n    ca_file: {}\n    verify: {verify}\n    timeout: 2\n  }}",
            q(self.cert.display().to_string()),
            q(self.key.display().to_string()),
            q(self.ca.display().to_string()),
        )
    }
}

/// How a hub node compresses its leafnode connections, the runners' tunnels (nats-server's
/// `leafnodes { compression: … }`). A connection is compressed only when both ends allow it, so
/// the hub's `off` holds for every runner, whatever its leaf asks.
///
/// s2 costs memory on both ends for each connection's life: with 50 tunnels, a hub node's RSS
/// per tunnel was 171 KiB off against 312–394 KiB with s2 while idle, and 319 KiB against
/// 1.7 MiB after a burst of traffic (`loadtest/leaf-memory.sh`, `loadtest/RESULTS.md`). Off is
/// the default, so that a hub node holds thousands of runners; s2 is for runners whose tunnel
/// crosses a slow link (logs compress several times).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LeafCompression {
    #[default]
    Off,
    /// nats-server's own default: s2 at a level chosen by the connection's round-trip time
    /// (uncompressed s2 frames under 10 ms).
    S2Auto,
    S2Fast,
    S2Better,
    S2Best,
}

impl LeafCompression {
    /// Every mode, by the name the flag and nats-server take.
    pub const NAMES: [&'static str; 5] = ["off", "s2_auto", "s2_fast", "s2_better", "s2_best"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl std::str::FromStr for LeafCompression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const ALL: [LeafCompression; 5] = [
            LeafCompression::Off,
            LeafCompression::S2Auto,
            LeafCompression::S2Fast,
            LeafCompression::S2Better,
            LeafCompression::S2Best,
        ];
        ALL.into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("{s:?}: not a leafnode compression (one of {})", Self::NAMES.join(", ")))
    }
}

impl std::fmt::Display for LeafCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The control plane's hub: client port on loopback (mTLS), leafnode listener (mTLS), JetStream,
/// and the auth callout deciding who every certificate-only connection is.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub server_name: String,
    /// Where the client port listens: loopback, unless the hub's nodes are spread over
    /// machines and control planes dial them (`cloudops hub --routes`; mTLS either way).
    pub client_host: String,
    pub client_port: u16,
    pub leaf_host: String,
    pub leaf_port: u16,
    pub leaf_compression: LeafCompression,
    pub tls: ServerTls,
    pub jetstream_dir: PathBuf,
    /// JetStream's file-store limit in bytes. Every runner's stream *reserves* its quota
    /// against it, so it is sized for many runners ([`hub_max_file_store`]); the disk actually
    /// used is bounded by the streams' max-age and the runners' real traffic.
    pub max_file_store: u64,
    pub log_file: PathBuf,
    /// Operator mode ([`crate::accounts`]): the operator JWT the hub trusts (a file).
    pub operator_jwt: PathBuf,
    /// Public key of the system account.
    pub system_account: String,
    /// The hub's own accounts (public key, JWT): system, callout, control plane.
    pub preload: Vec<(String, String)>,
    /// Where the `full` resolver keeps the account JWTs pushed at run time (the runners').
    pub resolver_dir: PathBuf,
    /// The user JWT a connection without one is taken to present: the callout account's
    /// sentinel, so that every runner goes to the auth callout with nothing but its certificate.
    pub default_sentinel: String,
    /// One node of a cluster of hubs (`cloudops serve --cluster-size N`); None: a hub alone.
    pub cluster: Option<ClusterConfig>,
}

/// The cluster block of one hub node: routes to every node over mutual TLS, and a route
/// password, so that a certificate of our CA alone (a runner's) is never taken as a route.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Every node's route address `host:port`, this one's included (the server skips itself).
    pub routes: Vec<String>,
    pub route_user: String,
    pub route_password: String,
}

impl ClusterConfig {
    fn block(&self, tls: &ServerTls) -> String {
        let routes: Vec<String> =
            self.routes.iter().map(|r| q(format!("tls://{}:{}@{r}", self.route_user, self.route_password))).collect();
        format!(
            "cluster {{\n  name: {name}\n  host: {host}\n  port: {port}\n  no_advertise: true\n  \
             authorization {{ user: {u}, password: {p}, timeout: 2 }}\n  routes: [{routes}]\n  {tls}\n}}\n",
            name = q(&self.name),
            host = q(&self.host),
            port = self.port,
            u = q(&self.route_user),
            p = q(&self.route_password),
            routes = routes.join(", "),
            tls = tls.block(true),
        )
    }
}

/// The hub's JetStream file-store limit for a per-runner stream quota: room for 16,384 runners'
/// reservations, and never less than 4 GiB.
pub fn hub_max_file_store(runner_stream_max_bytes: i64) -> u64 {
    (runner_stream_max_bytes.max(0) as u64).saturating_mul(16_384).max(4 << 30)
}

impl HubConfig {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "# written by cloudops serve; regenerated on every start\n\
             server_name: {name}\n\
             host: {host}\n\
             port: {port}\n\
             log_file: {log}\n\
             max_payload: 8MB\n\
             {tls}\n\
             leafnodes {{\n  host: {lh}\n  port: {lp}\n  no_advertise: true\n  compression: {lc}\n  {ltls}\n}}\n\
             jetstream {{\n  store_dir: {js}\n  max_memory_store: 256MB\n  max_file_store: {max_file_store}\n}}\n\
             operator: {operator}\n\
             system_account: {sys}\n\
             resolver {{\n  type: full\n  dir: {resolver_dir}\n  allow_delete: false\n  interval: \"2m\"\n  timeout: \"5s\"\n}}\n\
             resolver_preload {{\n{preload}}}\n\
             default_sentinel: {sentinel}\n",
            name = q(&self.server_name),
            host = q(&self.client_host),
            port = self.client_port,
            log = q(self.log_file.display().to_string()),
            tls = self.tls.block(true),
            lh = q(&self.leaf_host),
            lp = self.leaf_port,
            lc = self.leaf_compression,
            ltls = self.tls.block(true),
            js = q(self.jetstream_dir.display().to_string()),
            max_file_store = self.max_file_store,
            operator = q(self.operator_jwt.display().to_string()),
            sys = q(&self.system_account),
            resolver_dir = q(self.resolver_dir.display().to_string()),
            preload = self.preload.iter().map(|(k, jwt)| format!("  {k}: {}\n", q(jwt))).collect::<String>(),
            sentinel = q(&self.default_sentinel),
        );
        if let Some(c) = &self.cluster {
            s.push_str(&c.block(&self.tls));
        }
        s
    }
}

/// A runner's leaf node: loopback client port for the runner process, one outbound mTLS remote.
#[derive(Debug, Clone)]
pub struct LeafConfig {
    pub server_name: String,
    pub client_port: u16,
    pub local_user: String,
    pub local_password: String,
    /// Every hub node's leafnode URL: the leaf dials the next one when its node is gone.
    pub hub_urls: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub log_file: PathBuf,
    /// Where the leaf serves its monitoring endpoint (`/leafz`) on loopback.
    pub monitor_port: u16,
    /// The remote does not dial the hub (a pause of `tunnel_backoff`); reloadable.
    pub remote_disabled: bool,
}

impl LeafConfig {
    pub fn render(&self) -> String {
        format!(
            "# written by the runner from its credentials\n\
             server_name: {name}\n\
             host: \"127.0.0.1\"\n\
             port: {port}\n\
             log_file: {log}\n\
             max_payload: 8MB\n\
             authorization {{ user: {u}, password: {p} }}\n\
             http: \"127.0.0.1:{monitor}\"\n\
             leafnodes {{\n  reconnect: 1\n  remotes: [\n    {{\n      urls: [{urls}]\n      disabled: {disabled}\n      tls {{\n        cert_file: {cert}\n        key_file: {key}\n        ca_file: {ca}\n        timeout: 2\n      }}\n    }}\n  ]\n}}\n",
            name = q(&self.server_name),
            port = self.client_port,
            log = q(self.log_file.display().to_string()),
            u = q(&self.local_user),
            p = q(&self.local_password),
            monitor = self.monitor_port,
            urls = self.hub_urls.iter().map(q).collect::<Vec<_>>().join(", "),
            disabled = self.remote_disabled,
            cert = q(self.cert.display().to_string()),
            key = q(self.key.display().to_string()),
            ca = q(self.ca.display().to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_node_routes_to_every_node_with_a_password_over_tls() {
        let tls = ServerTls { cert: "/h/hub.pem".into(), key: "/h/hub.key".into(), ca: "/h/ca.pem".into() };
        let c = ClusterConfig {
            name: "cloudops".into(),
            host: "127.0.0.1".into(),
            port: 6001,
            routes: vec!["127.0.0.1:6001".into(), "127.0.0.1:6002".into()],
            route_user: "route".into(),
            route_password: "s3cret".into(),
        };
        let block = c.block(&tls);
        assert!(block.starts_with("cluster {\n  name: \"cloudops\"\n  host: \"127.0.0.1\"\n  port: 6001\n"), "{block}");
        assert!(
            block.contains(r#"routes: ["tls://route:s3cret@127.0.0.1:6001", "tls://route:s3cret@127.0.0.1:6002"]"#),
            "{block}"
        );
        assert!(block.contains(r#"authorization { user: "route", password: "s3cret""#), "{block}");
        assert!(block.contains("verify: true"), "{block}");

        let leaf = LeafConfig {
            server_name: "leaf".into(),
            client_port: 1,
            local_user: "u".into(),
            local_password: "p".into(),
            hub_urls: vec!["tls://h:7422".into(), "tls://h:7423".into()],
            cert: "c".into(),
            key: "k".into(),
            ca: "a".into(),
            log_file: "l".into(),
            monitor_port: 2,
            remote_disabled: false,
        };
        let text = leaf.render();
        assert!(text.contains(r#"urls: ["tls://h:7422", "tls://h:7423"]"#), "{text}");
        assert!(text.contains("http: \"127.0.0.1:2\"\n") && text.contains("disabled: false\n"), "{text}");
        let paused = LeafConfig { remote_disabled: true, ..leaf }.render();
        assert!(paused.contains("disabled: true\n"), "{paused}");
    }

    #[test]
    fn leaf_compression_names_round_trip_and_bad_ones_are_named() {
        for n in LeafCompression::NAMES {
            assert_eq!(n.parse::<LeafCompression>().unwrap().to_string(), n);
        }
        assert_eq!(LeafCompression::default(), LeafCompression::Off);
        let e = "s2".parse::<LeafCompression>().unwrap_err();
        assert_eq!(e, r#""s2": not a leafnode compression (one of off, s2_auto, s2_fast, s2_better, s2_best)"#);
    }

    #[test]
    fn quoting() {
        assert_eq!(q(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
