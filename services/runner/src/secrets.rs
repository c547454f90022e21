//! The runner's side of "secret and variable resolution at runtime" (seed 002): a connection
//! that takes settings from the org's secrets (`--set-secret role_arn=NAME`) sends only their
//! keys with the op; the runner fetches the values from the control plane over HTTPS with its
//! own API key, and keeps them for [`CACHE_TTL`]. A regenerated or deleted runner's key is
//! refused at once, so such a runner resolves nothing more.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use cloudops_schemas::{
    RunnerCredentials,
    v1::{self, ErrorCode},
};

/// How long fetched values serve later ops of the same connection.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// A connection's values, and when they were fetched.
type Cached = (Instant, BTreeMap<String, String>);

pub struct ControlPlaneSecrets {
    /// Err: the credentials' endpoint may not carry the key (plain HTTP to a remote host).
    http: Result<reqwest::Client, String>,
    endpoint: String,
    api_key: String,
    cache: tokio::sync::Mutex<HashMap<String, Cached>>,
}

impl ControlPlaneSecrets {
    /// The control plane's HTTPS certificate is checked against the CA in the credentials
    /// (the control plane's own, for its generated certificate) and the public web roots (an
    /// operator's certificate). An endpoint the key may not travel to is an error at use.
    pub fn new(creds: &RunnerCredentials) -> Self {
        let endpoint = creds.control_plane_endpoint.trim_end_matches('/').to_string();
        let http = cloudops_schemas::check_api_endpoint(&endpoint).and_then(|()| {
            let ca = reqwest::Certificate::from_pem(creds.tunnel.ca_cert_pem.as_bytes())
                .map_err(|e| format!("the credentials' CA certificate: {e}"))?;
            reqwest::Client::builder()
                .tls_certs_merge([ca])
                // The answer comes from the control plane itself, never from where it points.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))
        });
        Self { http, endpoint, api_key: creds.api_key.clone(), cache: Default::default() }
    }

    /// The values of connection `connection_id`'s secret references, by setting key.
    pub async fn for_connection(&self, connection_id: &str) -> Result<BTreeMap<String, String>, v1::Error> {
        if let Some((at, values)) = self.cache.lock().await.get(connection_id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(values.clone());
        }
        let values = self.fetch(connection_id).await?;
        self.cache.lock().await.insert(connection_id.to_string(), (Instant::now(), values.clone()));
        Ok(values)
    }

    async fn fetch(&self, connection_id: &str) -> Result<BTreeMap<String, String>, v1::Error> {
        let unavailable = |m: String| v1::Error::new(ErrorCode::Unavailable, m);
        let http = self.http.as_ref().map_err(|e| {
            unavailable(format!("this connection's settings come from secrets, which this runner cannot fetch: {e}"))
        })?;
        let url = format!("{}/v1/runner/connections/{connection_id}/secrets", self.endpoint);
        let resp = http.get(&url).bearer_auth(&self.api_key).send().await.map_err(|e| {
            unavailable(format!(
                "cannot reach the control plane at {} to fetch the connection's secrets: {e}",
                self.endpoint
            ))
        })?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        match status.as_u16() {
            200 => serde_json::from_value(body["values"].clone()).map_err(|e| {
                v1::Error::new(ErrorCode::Internal, format!("the control plane's secret values are not a map: {e}"))
            }),
            401 => Err(v1::Error::new(
                ErrorCode::Unauthenticated,
                "the control plane refused this runner's API key (its credentials were regenerated, or the runner was deleted): deploy it with new credentials",
            )),
            404 | 403 => Err(v1::Error::new(ErrorCode::PermissionDenied, format!("connection secrets: {message}"))),
            _ => {
                Err(unavailable(format!("the control plane answered {status} for the connection's secrets: {message}")))
            }
        }
    }
}

/// `req` with the values of its connection's secret references joined to its settings, for
/// this op only; `req` itself when it has none.
pub async fn with_secret_values<'a>(
    secrets: &ControlPlaneSecrets,
    req: &'a v1::RunnerRequest,
) -> Result<std::borrow::Cow<'a, v1::RunnerRequest>, v1::Error> {
    let Some(settings) = req.settings.as_ref().filter(|s| !s.secret_keys.is_empty()) else {
        return Ok(std::borrow::Cow::Borrowed(req));
    };
    let values = secrets.for_connection(&settings.connection_id).await?;
    let mut owned = req.clone();
    let target = owned.settings.get_or_insert_default();
    for key in &settings.secret_keys {
        let value = values.get(key).ok_or_else(|| {
            v1::Error::new(ErrorCode::Internal, format!("the control plane sent no value for the connection's {key}"))
        })?;
        target.values.insert(key.clone(), value.trim().to_string());
    }
    Ok(std::borrow::Cow::Owned(owned))
}
