//! The runner's `credentials.json` (seed 002): everything a runner needs, in one file.

use serde::{Deserialize, Serialize};

use crate::RunnerId;

pub const CREDENTIALS_VERSION: u32 = 1;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerCredentials {
    pub version: u32,
    pub org_id: String,
    pub org: String,
    pub runner_id: String,
    pub runner_name: String,
    /// Bumped by regenerate-credentials; the certificate's identity carries it.
    pub generation: u32,
    /// The control plane's HTTP endpoint.
    pub control_plane_endpoint: String,
    /// API key of the runner's auto-provisioned service account.
    pub api_key: String,
    pub tunnel: TunnelCredentials,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelCredentials {
    /// The hub's leafnode URL, e.g. tls://hub.example.com:7422 (a cluster's first node).
    pub leaf_url: String,
    /// A cluster's leafnode URLs, one per node, `leaf_url` first: the runner's leaf dials the
    /// next when its node is gone. Written only for a cluster, so that a runner of an earlier
    /// version still reads the file of a hub alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaf_urls: Vec<String>,
    /// The control plane's CA certificate (PEM); pins the hub's server certificate.
    pub ca_cert_pem: String,
    /// The runner's client certificate (PEM), signed by the control plane's CA.
    pub cert_pem: String,
    /// The runner's private key (PEM). Never stored by the control plane.
    pub key_pem: String,
}

impl TunnelCredentials {
    /// The tunnel to a hub of `urls` (one node or a cluster's, at least one).
    pub fn new(urls: &[String], ca_cert_pem: String, cert_pem: String, key_pem: String) -> Self {
        let leaf_url = urls.first().cloned().unwrap_or_default();
        let leaf_urls = if urls.len() > 1 { urls.to_vec() } else { Vec::new() };
        Self { leaf_url, leaf_urls, ca_cert_pem, cert_pem, key_pem }
    }

    /// Every hub node's leafnode URL.
    pub fn hub_urls(&self) -> Vec<String> {
        if self.leaf_urls.is_empty() { vec![self.leaf_url.clone()] } else { self.leaf_urls.clone() }
    }
}

impl RunnerCredentials {
    /// Parses and checks a credentials file; every error names the field at fault.
    pub fn parse(json: &str) -> Result<Self, String> {
        let c: Self = serde_json::from_str(json).map_err(|e| format!("malformed credentials: {e}"))?;
        if c.version != CREDENTIALS_VERSION {
            return Err(format!(
                "malformed credentials: field `version` is {}, expected {CREDENTIALS_VERSION}",
                c.version
            ));
        }
        RunnerId::parse(c.runner_id.clone()).map_err(|e| format!("malformed credentials: field `runner_id`: {e}"))?;
        for (field, value) in [
            ("org_id", &c.org_id),
            ("runner_name", &c.runner_name),
            ("control_plane_endpoint", &c.control_plane_endpoint),
            ("api_key", &c.api_key),
            ("tunnel.leaf_url", &c.tunnel.leaf_url),
        ] {
            if value.trim().is_empty() {
                return Err(format!("malformed credentials: field `{field}` is empty"));
            }
        }
        for (field, value, marker) in [
            ("tunnel.ca_cert_pem", &c.tunnel.ca_cert_pem, "-----BEGIN CERTIFICATE-----"),
            ("tunnel.cert_pem", &c.tunnel.cert_pem, "-----BEGIN CERTIFICATE-----"),
            ("tunnel.key_pem", &c.tunnel.key_pem, "PRIVATE KEY-----"),
        ] {
            if !value.contains(marker) {
                return Err(format!("malformed credentials: field `{field}` is not a PEM ({marker})"));
            }
        }
        if !c.tunnel.leaf_url.starts_with("tls://") {
            return Err(format!(
                "malformed credentials: field `tunnel.leaf_url` must be a tls:// URL, got {:?}",
                c.tunnel.leaf_url
            ));
        }
        if let Some(u) = c.tunnel.leaf_urls.iter().find(|u| !u.starts_with("tls://")) {
            return Err(format!("malformed credentials: field `tunnel.leaf_urls` must hold tls:// URLs, got {u:?}"));
        }
        if !c.tunnel.leaf_urls.is_empty() && !c.tunnel.leaf_urls.contains(&c.tunnel.leaf_url) {
            return Err("malformed credentials: field `tunnel.leaf_urls` must include `tunnel.leaf_url`".into());
        }
        Ok(c)
    }

    pub fn runner_id(&self) -> RunnerId {
        RunnerId::parse(self.runner_id.clone()).expect("checked in parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "version": 1, "org_id": "org-1", "org": "acme", "runner_id": "rnr-1", "runner_name": "prod-runner",
            "generation": 1, "control_plane_endpoint": "http://127.0.0.1:7480", "api_key": "cok_x",
            "tunnel": {"leaf_url": "tls://127.0.0.1:7422", "ca_cert_pem": "-----BEGIN CERTIFICATE-----\n",
                       "cert_pem": "-----BEGIN CERTIFICATE-----\n", "key_pem": "-----BEGIN PRIVATE KEY-----\n"}
        })
    }

    #[test]
    fn errors_name_the_field() {
        assert!(RunnerCredentials::parse(&sample().to_string()).is_ok());
        let mut v = sample();
        v["tunnel"].as_object_mut().unwrap().remove("cert_pem");
        assert!(RunnerCredentials::parse(&v.to_string()).unwrap_err().contains("cert_pem"));
        let mut v = sample();
        v["tunnel"]["key_pem"] = "nope".into();
        assert!(RunnerCredentials::parse(&v.to_string()).unwrap_err().contains("tunnel.key_pem"));
        let mut v = sample();
        v["runner_id"] = "A.B".into();
        assert!(RunnerCredentials::parse(&v.to_string()).unwrap_err().contains("runner_id"));
        assert!(RunnerCredentials::parse("{not json").unwrap_err().contains("malformed credentials"));
    }

    #[test]
    fn a_cluster_lists_every_node_and_a_hub_alone_keeps_the_old_shape() {
        let one = TunnelCredentials::new(&["tls://a:7422".into()], String::new(), String::new(), String::new());
        assert!(serde_json::to_value(&one).unwrap().get("leaf_urls").is_none());
        assert_eq!(one.hub_urls(), vec!["tls://a:7422"]);
        let urls = ["tls://a:7422".to_string(), "tls://a:7423".into(), "tls://a:7424".into()];
        let three = TunnelCredentials::new(&urls, String::new(), String::new(), String::new());
        assert_eq!((three.leaf_url.as_str(), three.hub_urls()), ("tls://a:7422", urls.to_vec()));
        let mut v = sample();
        v["tunnel"]["leaf_urls"] = serde_json::json!(["tls://127.0.0.1:7422", "nats://127.0.0.1:7423"]);
        assert!(RunnerCredentials::parse(&v.to_string()).unwrap_err().contains("tunnel.leaf_urls"));
        v["tunnel"]["leaf_urls"] = serde_json::json!(["tls://127.0.0.1:7423"]);
        assert!(RunnerCredentials::parse(&v.to_string()).unwrap_err().contains("must include"));
        v["tunnel"]["leaf_urls"] = serde_json::json!(["tls://127.0.0.1:7422", "tls://127.0.0.1:7423"]);
        assert_eq!(RunnerCredentials::parse(&v.to_string()).unwrap().tunnel.hub_urls().len(), 2);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A credentials file of any content: no panic, and a refusal says what is malformed.
        #[test]
        fn any_text_parses_or_names_the_problem(s in ".{0,400}") {
            if let Err(e) = RunnerCredentials::parse(&s) {
                prop_assert!(e.starts_with("malformed credentials"), "{e}");
            }
        }

        /// Valid JSON objects with the right keys and wrong value types are named by field.
        #[test]
        fn wrong_types_name_the_field(v in prop_oneof![Just("1"), Just("null"), Just("[]"), Just("\"x\"")]) {
            let json = format!(r#"{{"version": {v}, "org_id": {v}}}"#);
            let e = RunnerCredentials::parse(&json).unwrap_err();
            prop_assert!(e.starts_with("malformed credentials"), "{e}");
        }
    }
}
