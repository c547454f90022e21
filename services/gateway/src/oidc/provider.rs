//! The identity provider as the gateway talks to it (`openidconnect`): its discovery document
//! and keys (fetched on first use, again after an hour or when a token's signature does not
//! verify, so that rotated keys are picked up), and who a token it signed names.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cloudops_store::OidcIdentity;
use openidconnect::{
    AdditionalProviderMetadata, ClientId, ClientSecret, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, NonceVerifier, ProviderMetadata, RedirectUrl,
    core::{
        CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType, CoreIdToken,
        CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
        CoreResponseType, CoreSubjectIdentifierType,
    },
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::OidcError;

/// How `cloudops serve` was told to reach the identity provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The ID token claim that lists the user's groups (`groups` by default).
    pub groups_claim: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The org people who sign in are made in.
    pub org: String,
    /// A CA (PEM) for a provider whose certificate is not from a public CA.
    pub ca_pem: Option<String>,
}

/// The discovery document's device endpoint, which the core metadata does not name.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DeviceEndpoint {
    #[serde(default)]
    pub device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
}
impl AdditionalProviderMetadata for DeviceEndpoint {}

pub type Metadata = ProviderMetadata<
    DeviceEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A client made from the discovery document: authorization and token endpoints set.
pub type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// How long a discovery document (and its keys) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// An HTTP failure talking to the provider (openidconnect wants a `std::error::Error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

pub struct Provider {
    pub settings: OidcSettings,
    pub(super) http: reqwest::Client,
    /// Where the provider sends the browser back (the gateway's callback).
    pub(super) redirect: RedirectUrl,
    metadata: Mutex<Option<(Instant, Arc<Metadata>)>>,
    /// Device sign-ins waiting for their user at once (each holds a request up to 20 s).
    pub(super) polls: tokio::sync::Semaphore,
}

/// See [`Provider::polls`].
const MAX_WAITING_DEVICE_SIGN_INS: usize = 64;

impl Provider {
    pub fn new(settings: OidcSettings, public_endpoint: &str) -> Result<Self, OidcError> {
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| OidcError::Config(format!("--oidc-issuer {:?}: {e}", settings.issuer)))?;
        let redirect = RedirectUrl::new(format!("{}/v1/auth/oidc/callback", public_endpoint.trim_end_matches('/')))
            .map_err(|e| OidcError::Config(format!("the callback URL from {public_endpoint:?}: {e}")))?;
        // No redirects followed: a provider's endpoints answer where they are (and following
        // them would let a discovery document send the gateway anywhere).
        // reqwest is built without a TLS provider of its own: rustls' ring, as everywhere here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        if let Some(pem) = &settings.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| OidcError::Config(format!("--oidc-ca-file: {e}")))?;
            http = http.tls_certs_merge(certs);
        }
        let http = http.build().map_err(|e| OidcError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            settings,
            http,
            redirect,
            metadata: Mutex::new(None),
            polls: tokio::sync::Semaphore::new(MAX_WAITING_DEVICE_SIGN_INS),
        })
    }

    /// One request to the provider, through the gateway's HTTP client.
    pub(super) fn send(
        &self,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>>
    + '_ {
        move |req: openidconnect::HttpRequest| {
            let http = self.http.clone();
            Box::pin(async move {
                let (parts, body) = req.into_parts();
                let res = http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| HttpError(error_chain(&e)))?;
                let mut out = http::Response::builder().status(res.status());
                for (k, v) in res.headers() {
                    out = out.header(k, v);
                }
                let body = res.bytes().await.map_err(|e| HttpError(error_chain(&e)))?;
                out.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
            })
        }
    }

    /// The discovery document: cached, fetched again when `stale` or after an hour.
    pub async fn metadata(&self, stale: bool) -> Result<Arc<Metadata>, OidcError> {
        let mut slot = self.metadata.lock().await;
        if let Some((at, m)) = slot.as_ref()
            && !stale
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| OidcError::Config(e.to_string()))?;
        let m = Metadata::discover_async(issuer, &self.send()).await.map_err(|e| {
            OidcError::Provider(format!(
                "cannot read {}'s discovery document: {}",
                self.settings.issuer,
                error_chain(&e)
            ))
        })?;
        let m = Arc::new(m);
        *slot = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    pub fn client(&self, m: &Metadata) -> Client {
        CoreClient::from_provider_metadata(
            m.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Who a token the provider signed names. A signature that does not verify is checked
    /// once more against keys fetched again (the provider may have rotated them).
    pub async fn identify<N: NonceVerifier + Clone>(
        &self,
        token: &CoreIdToken,
        nonce: N,
    ) -> Result<OidcIdentity, OidcError> {
        let m = self.metadata(false).await?;
        let verified = {
            let client = self.client(&m);
            token.claims(&client.id_token_verifier(), nonce.clone()).cloned()
        };
        let claims = match verified {
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let m = self.metadata(true).await?;
                let client = self.client(&m);
                token.claims(&client.id_token_verifier(), nonce).cloned()
            }
            other => other,
        }
        .map_err(|e| OidcError::Token(format!("the identity provider's ID token does not verify: {e}")))?;
        let email = claims.email().filter(|_| claims.email_verified() == Some(true)).map(|e| e.to_string());
        let subject = claims.subject().to_string();
        Ok(OidcIdentity {
            issuer: claims.issuer().url().as_str().trim_end_matches('/').to_string(),
            display: email.unwrap_or_else(|| subject.clone()),
            subject,
            groups: groups_claim(&token.to_string(), &self.settings.groups_claim),
        })
    }
}

/// The groups a (verified) token lists in `claim`: an array of strings, or one string.
fn groups_claim(jwt: &str, claim: &str) -> Vec<String> {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let Ok(bytes) = data_encoding::BASE64URL_NOPAD.decode(payload.trim_end_matches('=').as_bytes()) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Vec::new() };
    match &v[claim] {
        serde_json::Value::Array(a) => a.iter().filter_map(|g| g.as_str().map(String::from)).collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// An error and its causes, on one line.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        let enc = |v: &serde_json::Value| data_encoding::BASE64URL_NOPAD.encode(v.to_string().as_bytes());
        format!("{}.{}.sig", enc(&serde_json::json!({"alg": "RS256"})), enc(&payload))
    }

    #[test]
    fn reads_the_groups_claim() {
        let t = jwt(serde_json::json!({"sub": "a", "groups": ["platform-team", 7, "dev"], "roles": "ops"}));
        assert_eq!(groups_claim(&t, "groups"), vec!["platform-team", "dev"]);
        assert_eq!(groups_claim(&t, "roles"), vec!["ops"]);
        assert!(groups_claim(&t, "absent").is_empty());
        assert!(groups_claim("not-a-jwt", "groups").is_empty());
    }
}
