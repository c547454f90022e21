//! The runner's `credentials.json` (seed 002): everything a runner needs, in one file.

use serde::{Deserialize, Serialize};

use crate::RunnerId;

pub const CREDENTIALS_VERSION: u32 = 1;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelCredentials {
    /// The hub's leafnode URL, e.g. tls://hub.example.com:7422.
    pub leaf_url: String,
    /// The control plane's CA certificate (PEM); pins the hub's server certificate.
    pub ca_cert_pem: String,
    /// The runner's client certificate (PEM), signed by the control plane's CA.
    pub cert_pem: String,
    /// The runner's private key (PEM). Never stored by the control plane.
    pub key_pem: String,
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
