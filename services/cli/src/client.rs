//! The CLI's HTTP client for the gateway: the API key on every request, the gateway's error
//! shape read into [`CliError::Api`], and several gateways (`endpoint: https://a,https://b`)
//! tried in turn: a request moves to the next one when the connection could not be made (it
//! never reached a gateway), and an idempotent one (GET, PUT, DELETE) also when the connection
//! failed in flight.

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{CliConfig, CliError, Result};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The first gateway: what kubeconfigs and messages name.
    pub(crate) endpoint: String,
    /// Every gateway, in the order they are tried.
    endpoints: Vec<String>,
    api_key: String,
}

/// `https://a, https://b/` → `["https://a", "https://b"]`.
pub(crate) fn split_endpoints(s: &str) -> Vec<String> {
    s.split(',').map(|e| e.trim().trim_end_matches('/')).filter(|e| !e.is_empty()).map(String::from).collect()
}

impl Client {
    pub(crate) fn from_config(cfg: &CliConfig) -> Result<Self> {
        let endpoint =
            std::env::var("PLANTON_ENDPOINT").ok().filter(|e| !e.is_empty()).unwrap_or_else(|| cfg.endpoint.clone());
        let api_key =
            std::env::var("PLANTON_API_KEY").ok().filter(|e| !e.is_empty()).unwrap_or_else(|| cfg.api_key.clone());
        let endpoints = split_endpoints(&endpoint);
        if endpoints.is_empty() || api_key.is_empty() {
            return Err("not logged in: run `planton login --endpoint URL --api-key KEY` (or start `cloudops serve`, which writes the config)".to_string().into());
        }
        for e in &endpoints {
            cloudops_schemas::check_api_endpoint(e)?;
        }
        Ok(Self { http: http_client(&cfg.ca_cert)?, endpoint: endpoints[0].clone(), endpoints, api_key })
    }

    /// A client without a key, for what is public (signing in).
    pub(crate) fn anonymous(cfg: &CliConfig) -> Result<Self> {
        let endpoints = split_endpoints(&cfg.endpoint);
        if endpoints.is_empty() {
            return Err("no endpoint: pass --endpoint URL".to_string().into());
        }
        for e in &endpoints {
            cloudops_schemas::check_api_endpoint(e)?;
        }
        Ok(Self { http: http_client(&cfg.ca_cert)?, endpoint: endpoints[0].clone(), endpoints, api_key: String::new() })
    }

    /// Sends the request `build` makes for a gateway's base URL, to each gateway in turn while
    /// the failure allows another try (see the module docs).
    async fn dispatch(
        &self,
        idempotent: bool,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut failures = Vec::new();
        for (i, base) in self.endpoints.iter().enumerate() {
            let req = build(base);
            let req = if self.api_key.is_empty() { req } else { req.bearer_auth(&self.api_key) };
            match req.send().await {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    let again = i + 1 < self.endpoints.len() && (e.is_connect() || idempotent);
                    failures.push((base, root_cause(&e)));
                    if !again {
                        break;
                    }
                }
            }
        }
        Err(CliError::Message(match failures.as_slice() {
            [(base, cause)] => format!("cannot reach the control plane at {base}: {cause}"),
            many => format!(
                "cannot reach the control plane at any of its gateways: {}",
                many.iter().map(|(b, c)| format!("{b}: {c}")).collect::<Vec<_>>().join("; ")
            ),
        }))
    }

    async fn send(&self, idempotent: bool, build: impl Fn(&str) -> reqwest::RequestBuilder) -> Result<Value> {
        let resp = self.dispatch(idempotent, build).await?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| CliError::Message(format!("reading the response: {e}")))?;
        if status.is_success() && body.is_empty() {
            return Ok(Value::Null);
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| {
            CliError::Message(format!("the control plane answered {status} with a body that is not JSON"))
        })?;
        if status.is_success() {
            return Ok(v);
        }
        Err(api_error(status, v))
    }

    /// A raw GET (streamed responses), with the key; errors read like the others. A stream
    /// resumed after its gateway went away (`Last-Event-ID`) continues on whichever answers.
    pub(crate) async fn get_stream(&self, path: &str, headers: &[(&str, String)]) -> Result<reqwest::Response> {
        let resp = self
            .dispatch(true, |base| {
                let mut req = self.http.get(format!("{base}{path}")).timeout(Duration::from_secs(24 * 3600));
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                req
            })
            .await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        Err(api_error(status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// A GET read as the contract's type (`cloudops_api`).
    pub(crate) async fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        read(self.get(path).await?)
    }

    /// A POST of a contract type, its answer read as another.
    pub(crate) async fn post_as<T: DeserializeOwned>(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<T> {
        read(self.post(path, body).await?)
    }

    pub(crate) async fn put_as<T: DeserializeOwned>(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<T> {
        read(self.put(path, body).await?)
    }

    pub(crate) async fn delete_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        read(self.delete(path).await?)
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        self.send(true, |base| self.http.get(format!("{base}{path}"))).await
    }

    pub(crate) async fn post(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<Value> {
        self.send(false, |base| self.http.post(format!("{base}{path}")).json(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Result<Value> {
        self.send(true, |base| self.http.put(format!("{base}{path}")).json(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Value> {
        self.send(true, |base| self.http.delete(format!("{base}{path}"))).await
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn http_client(ca_pem: &str) -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(60));
    if !ca_pem.trim().is_empty() {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
            .map_err(|e| CliError::Message(format!("the config's ca_cert is not a PEM certificate: {e}")))?;
        b = b.tls_certs_merge([ca]);
    }
    b.build().map_err(|e| CliError::Message(format!("http client: {e}")))
}

/// A failed answer as the contract's error (`{"error": {"code", "message", ...}}`), or what the
/// status says when the body is another shape (a proxy's page, say).
fn api_error(status: reqwest::StatusCode, body: Value) -> CliError {
    match serde_json::from_value::<cloudops_api::ErrorResponse>(body) {
        Ok(r) => CliError::Api {
            code: r.error.code.as_str().to_string(),
            message: r.error.message,
            upstream_reason: r.error.upstream_reason.filter(|s| !s.is_empty()),
        },
        Err(_) => CliError::Api {
            code: "UNKNOWN".into(),
            message: format!("the control plane answered {status} without an error of its API's shape"),
            upstream_reason: None,
        },
    }
}

/// An answer read as the contract's type (`cloudops_api`); a control plane of another version
/// that answers otherwise is named as such.
pub(crate) fn read<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        CliError::Message(format!(
            "the control plane answered in a shape this planton does not read ({e}): are both the same version?"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_gateways_in_one_endpoint() {
        assert_eq!(split_endpoints("https://a:7480, https://b:7480/,"), ["https://a:7480", "https://b:7480"]);
        assert_eq!(split_endpoints("https://a:7480"), ["https://a:7480"]);
        assert!(split_endpoints(" , ").is_empty());
    }

    #[tokio::test]
    async fn a_request_moves_on_to_the_next_gateway_when_one_is_gone() {
        // Nothing listens on the first; the second answers.
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let (mut s, _) = live.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = r#"{"principal":"p"}"#;
                let _ = s
                    .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                    .await;
            }
        });
        let cfg = CliConfig {
            endpoint: format!("http://{gone},http://{live_addr}"),
            api_key: "k".into(),
            ..Default::default()
        };
        let c = Client::from_config(&cfg).unwrap();
        assert_eq!(c.get("/v1/whoami").await.unwrap()["principal"], "p");
        // A POST too: the first gateway never saw it.
        assert_eq!(c.post("/v1/x", &serde_json::json!({})).await.unwrap()["principal"], "p");
        // Only gone ones: every one is named.
        let cfg =
            CliConfig { endpoint: format!("http://{gone},http://{gone}"), api_key: "k".into(), ..Default::default() };
        let e = Client::from_config(&cfg).unwrap().get("/v1/whoami").await.unwrap_err();
        let CliError::Message(m) = e else { panic!("{e:?}") };
        assert!(
            m.starts_with("cannot reach the control plane at any of its gateways")
                && m.matches(&gone.to_string()).count() == 2,
            "{m}"
        );
    }
}
