//! JSON over HTTPS with the deploying user's bearer token, for the targets deployed through
//! their documented REST APIs (Cloud Run with Secret Manager, Container Apps with Key Vault).

use std::time::Duration;

use reqwest::{Method, header::CONTENT_LENGTH};
use serde_json::Value;

use super::DeployError;

/// One answer: the HTTP status and the body (JSON, or the text as a JSON string).
pub(super) struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn not_found(&self) -> bool {
        self.status == 404
    }

    /// The service's own words: Google's `{"error": {"code": 403, "status": "PERMISSION_DENIED",
    /// "message": …}}`, Resource Manager's and Key Vault's `{"error": {"code":
    /// "AuthorizationFailed", "message": …}}`; else the HTTP status and the start of the body.
    pub fn why(&self) -> String {
        let e = &self.body["error"];
        let code = e["status"].as_str().or_else(|| e["code"].as_str());
        match (code, e["message"].as_str()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (None, Some(message)) => format!("HTTP {}: {message}", self.status),
            _ => {
                let text = match &self.body {
                    Value::String(s) => s.trim().chars().take(300).collect::<String>(),
                    Value::Null => String::new(),
                    other => other.to_string().chars().take(300).collect(),
                };
                if text.is_empty() { format!("HTTP {}", self.status) } else { format!("HTTP {}: {text}", self.status) }
            }
        }
    }
}

/// The one client of a deploy (its connections are reused from call to call).
pub(super) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("HTTP client: {}", crate::error_chain(&e)))
}

/// One call; `Err` only when no answer came (the address, the network, TLS), in words.
pub(super) async fn call(
    http: &reqwest::Client,
    token: &str,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let mut req = http.request(method.clone(), url).bearer_auth(token);
    req = match body {
        Some(b) => req.json(b),
        // An action without a body (Container Apps' listSecrets) still says its length.
        None if method == Method::POST => req.header(CONTENT_LENGTH, "0"),
        None => req,
    };
    let res = req.send().await.map_err(|e| format!("no answer from {}: {}", origin(url), crate::error_chain(&e)))?;
    let status = res.status().as_u16();
    let bytes =
        res.bytes().await.map_err(|e| format!("reading the answer of {}: {}", origin(url), crate::error_chain(&e)))?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok(Answer { status, body })
}

/// One API's calls with one token, each failure named after the API and the call, in the
/// target's error variant: "Cloud Run: creating service planton-runner-x: PERMISSION_DENIED: …".
pub(super) struct Api<'a> {
    pub http: &'a reqwest::Client,
    pub token: String,
    pub name: &'static str,
    /// Scheme and host (and a path prefix), no trailing slash.
    pub base: String,
    pub error: fn(String) -> DeployError,
}

impl Api<'_> {
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, DeployError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        call(self.http, &self.token, method, &url, body)
            .await
            .map_err(|e| (self.error)(format!("{}: {what}: {e}", self.name)))
    }

    pub fn failed(&self, what: &str, answer: &Answer) -> DeployError {
        (self.error)(format!("{}: {what}: {}", self.name, answer.why()))
    }

    /// GET: the resource, `None` when it does not exist.
    pub async fn get(&self, what: &str, path: &str) -> Result<Option<Value>, DeployError> {
        match self.call(what, Method::GET, path, None).await? {
            a if a.ok() => Ok(Some(a.body)),
            a if a.not_found() => Ok(None),
            a => Err(self.failed(what, &a)),
        }
    }

    /// A write (or an action): the answer's body, or the service's error.
    pub async fn send(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, DeployError> {
        let answer = self.call(what, method, path, body).await?;
        if answer.ok() { Ok(answer.body) } else { Err(self.failed(what, &answer)) }
    }
}

/// `https://host[:port]` of a URL, to name where a call went without its query.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

/// An endpoint from the environment (tests, private endpoints), else the public one; no
/// trailing slash.
/// The deploying user's token goes there, so the same rule as for API keys holds: https://, or
/// plain http:// to a loopback address only.
pub(super) fn endpoint(var: &str, default: &str) -> Result<String, DeployError> {
    let url = std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
        .trim_end_matches('/')
        .to_string();
    cloudops_schemas::check_api_endpoint(&url).map_err(|e| DeployError::Invalid(format!("{var}: {e}")))?;
    Ok(url)
}

/// Letters, digits and `extra`: what may go into a URL path unescaped; never a `.` or `..`
/// segment (a URL's normalization would send the call, and its token, elsewhere).
pub(super) fn plain(s: &str, extra: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        && !s.split('/').any(|seg| seg == "." || seg == "..")
}

/// SHA-256 of the credentials, hex: in the revision's template, so that new credentials roll the
/// runner (a secret's new value alone does not restart it), as the chart's `checksum/credentials`.
pub(super) fn checksum(credentials: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(credentials.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` is the credentials of runner `name`.
pub(super) fn holds_credentials_of(text: &str, name: &str) -> bool {
    cloudops_schemas::RunnerCredentials::parse(text).is_ok_and(|c| c.runner_name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_read_in_the_services_words() {
        let google = Answer {
            status: 403,
            body: json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "denied"}}),
        };
        assert_eq!(google.why(), "PERMISSION_DENIED: denied");
        let arm = Answer { status: 403, body: json!({"error": {"code": "AuthorizationFailed", "message": "no"}}) };
        assert_eq!(arm.why(), "AuthorizationFailed: no");
        assert_eq!(
            Answer { status: 502, body: Value::String("<html>bad gateway".into()) }.why(),
            "HTTP 502: <html>bad gateway"
        );
        assert_eq!(Answer { status: 404, body: Value::Null }.why(), "HTTP 404");
        assert_eq!(origin("https://run.googleapis.com/v2/projects/p?x=1"), "https://run.googleapis.com");
        assert_eq!(origin("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert!(plain("europe-west1", "-") && !plain("a/b", "-") && !plain("", "-"));
        assert!(!plain("..", "-.") && !plain("/subscriptions/s/../../x", "-./") && plain("a.b", "-."));
    }
}
