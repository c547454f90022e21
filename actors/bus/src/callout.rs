//! The hub's auth callout, answered by the control plane.
//!
//! The hub's listeners only *verify* client certificates against the control plane's CA. For
//! every connection not in `auth_users` it sends an authorization request (a JWT signed by the
//! server) on `$SYS.REQ.USER.AUTH`. We map the verified certificate's URI SAN
//! `spiffe://cloudops.local/runner/<id>/gen/<n>` to a registered, non-revoked runner of that
//! generation and answer with a user JWT carrying exactly that runner's permissions.
//! Registering or revoking a runner needs no server reload.

use std::{sync::Arc, time::Duration};

use async_nats::Client;
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use cloudops_schemas::RunnerId;
use futures::StreamExt;
use nats_jwt_rs::{
    authorization::AuthResponse,
    types::{Permission, Permissions},
    user::User,
};
use nkeys::KeyPair;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use crate::admissions::{Admissions, Admitted, kick, leaf_accounts, live_connections};
use crate::{BusError, accounts::HubKeys, newest_first::NewestFirst, subjects};

pub const SPIFFE_RUNNER_PREFIX: &str = "spiffe://cloudops.local/runner/";

/// The identity carried by a runner certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerIdentity {
    pub runner_id: RunnerId,
    pub generation: u32,
    /// Hex SHA-256 of the certificate's DER.
    pub fingerprint: String,
}

pub fn runner_uri(runner: &RunnerId, generation: u32) -> String {
    format!("{SPIFFE_RUNNER_PREFIX}{runner}/gen/{generation}")
}

/// Parses `spiffe://cloudops.local/runner/<id>/gen/<n>`.
pub fn parse_runner_uri(uri: &str) -> Option<(RunnerId, u32)> {
    let rest = uri.strip_prefix(SPIFFE_RUNNER_PREFIX)?;
    let (id, generation) = rest.split_once("/gen/")?;
    Some((RunnerId::parse(id).ok()?, generation.parse().ok()?))
}

pub fn fingerprint_der(der: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(der))
}

/// Reads the runner identity out of a PEM certificate (already verified by the hub).
pub fn identity_from_pem(pem: &str) -> Result<RunnerIdentity, String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| format!("certificate is not PEM: {e}"))?;
    let cert = pem.parse_x509().map_err(|e| format!("certificate does not parse: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?
        .ok_or("certificate carries no runner identity (no subjectAltName)")?;
    let mut found = None;
    for name in &san.value.general_names {
        if let x509_parser::extensions::GeneralName::URI(uri) = name
            && let Some(id) = parse_runner_uri(uri)
        {
            if found.is_some() {
                return Err("certificate carries more than one runner identity".into());
            }
            found = Some(id);
        }
    }
    let (runner_id, generation) = found.ok_or("certificate carries no runner identity")?;
    Ok(RunnerIdentity { runner_id, generation, fingerprint: fingerprint_der(&pem.contents) })
}

/// Decides whether a runner identity may connect. Implemented by the control plane's store.
#[async_trait]
pub trait RunnerDirectory: Send + Sync + 'static {
    /// `Ok(())` admits the runner; `Err(reason)` refuses it.
    async fn admit(&self, identity: &RunnerIdentity) -> Result<(), String>;
}

/// Decodes a JWT and verifies its ed25519-nkey signature against its own issuer, which must
/// be a server key.
fn decode_server_jwt(token: &str) -> Result<Value, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("authorization request is not a JWT".into());
    };
    let claims: Value = serde_json::from_slice(&B64.decode(p).map_err(|e| e.to_string())?)
        .map_err(|e| format!("authorization request claims: {e}"))?;
    let iss = claims["iss"].as_str().ok_or("authorization request has no issuer")?;
    if !iss.starts_with('N') {
        return Err("authorization request not issued by a server".into());
    }
    let kp = KeyPair::from_public_key(iss).map_err(|e| e.to_string())?;
    let sig = B64.decode(s).map_err(|e| e.to_string())?;
    kp.verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| "authorization request signature invalid".to_string())?;
    Ok(claims)
}

/// The runner's user, signed with its own account's key: in operator mode that is what places
/// the connection in the runner's account (`crate::accounts`).
fn user_jwt(keys: &HubKeys, user_nkey: &str, identity: &RunnerIdentity, ttl: Duration) -> Result<String, String> {
    let perms = subjects::runner_permissions(&identity.runner_id);
    let mut c = User::new_claims(identity.runner_id.as_str().to_string(), user_nkey.to_string());
    c.exp = Some((unix_now() + ttl.as_secs()) as i64);
    c.nats.permissions.permissions = Permissions {
        publish: Permission { allow: perms.publish, deny: vec![] },
        subscribe: Permission { allow: perms.subscribe, deny: vec![] },
        resp: None,
    };
    c.encode(&keys.runner_account(&identity.runner_id)).map_err(|e| e.to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One decision: request JWT in, response JWT out.
async fn decide(
    request_jwt: &[u8],
    keys: &HubKeys,
    ttl: Duration,
    dir: &dyn RunnerDirectory,
    admissions: &Admissions,
) -> Result<(String, Vec<Admitted>), String> {
    let token = std::str::from_utf8(request_jwt).map_err(|_| "authorization request not utf-8")?;
    let claims = decode_server_jwt(token)?;
    let nats = &claims["nats"];
    let user_nkey = nats["user_nkey"].as_str().ok_or("no user_nkey")?.to_string();
    let server_id = nats["server_id"]["id"].as_str().ok_or("no server id")?.to_string();
    let cid = nats["client_info"]["id"].as_u64().unwrap_or(0);
    let tls = &nats["client_tls"];
    let cert = tls["verified_chains"][0][0].as_str();
    let outcome = match cert {
        None => Err("no verified client certificate".to_string()),
        Some(pem) => match identity_from_pem(pem) {
            Err(e) => Err(e),
            Ok(identity) => match dir.admit(&identity).await {
                Ok(()) => user_jwt(keys, &user_nkey, &identity, ttl).and_then(|jwt| {
                    let admitted = Admitted { runner: identity.runner_id.clone(), server_id: server_id.clone(), cid };
                    let replaced = admissions.record(admitted).map_err(|e| e.to_string())?;
                    Ok((identity, jwt, replaced))
                }),
                Err(reason) => Err(reason),
            },
        },
    };
    let kind = nats["client_info"]["kind"].as_str().unwrap_or("?").to_string();
    let mut resp = AuthResponse::generic_claim(user_nkey);
    resp.aud = Some(server_id);
    let replaced = match outcome {
        Ok((identity, jwt, replaced)) => {
            info!(runner_id = %identity.runner_id, generation = identity.generation, kind, cid, "runner admitted");
            resp.nats.jwt = jwt;
            replaced
        }
        Err(reason) => {
            warn!(%reason, kind, cid, "connection refused by auth callout");
            resp.nats.error = reason;
            Vec::new()
        }
    };
    // Signed by the callout account itself, as operator mode requires.
    Ok((resp.encode(&keys.auth_account()).map_err(|e| e.to_string())?, replaced))
}

/// How long a request may wait for a decider before it is dropped unanswered. The hub waits
/// 3 s for an answer on our TLS listeners (nats-server's default: the TLS timeout we set, 2 s,
/// plus 1 s); a request that waited 2 s leaves a decision 1 s to arrive in time.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// Decisions made at once. Each is a signature check, a registry lookup and two signatures:
/// a few deciders keep the cores and the database's pool busy without queueing behind them.
const DECIDERS: usize = 8;

/// One authorization request as it came off the subscription.
struct Request {
    payload: bytes::Bytes,
    reply: async_nats::Subject,
}

/// What the callout decides with.
pub struct Callout {
    /// A connection as one of the hub's `auth_users` in the callout account.
    pub nc: Client,
    /// A system-account connection, to cut a runner's older tunnel.
    pub sys: Client,
    pub keys: Arc<HubKeys>,
    /// How long an admitted runner's user JWT is valid.
    pub ttl: Duration,
    pub dir: Arc<dyn RunnerDirectory>,
    pub admissions: Admissions,
}

/// What every decider shares: the callout and its queue.
struct Decider {
    callout: Callout,
    queue: NewestFirst<Request>,
}

impl Decider {
    async fn run(self: Arc<Self>) {
        loop {
            let req = self.queue.pop().await;
            let dropped = self.queue.take_dropped();
            if dropped > 0 {
                warn!(
                    dropped,
                    "authorization requests waited longer than the hub waits: dropped unanswered (the callout is overloaded; those clients dial again)"
                );
            }
            self.answer(req).await;
        }
    }

    async fn answer(&self, req: Request) {
        let c = &self.callout;
        match decide(&req.payload, &c.keys, c.ttl, c.dir.as_ref(), &c.admissions).await {
            Ok((jwt, replaced)) => {
                if let Err(e) = c.nc.publish(req.reply, jwt.into()).await {
                    warn!(error = %e, "auth callout reply not sent");
                }
                // Off the deciders: a kick waits for the server's answer.
                let sys = c.sys.clone();
                tokio::spawn(async move {
                    for old in replaced {
                        info!(runner_id = %old.runner, cid = old.cid, "older tunnel of a reconnected runner cut");
                        if let Err(e) = kick(&sys, &old).await {
                            warn!(runner_id = %old.runner, cid = old.cid, error = %e, "kick failed (connection may be gone already)");
                        }
                    }
                });
            }
            // Without a reply the hub times out and refuses the connection.
            Err(e) => warn!(error = %e, "malformed authorization request ignored"),
        }
    }
}

/// Serves the auth callout on `callout.nc`. `callout.sys` cuts a runner's older tunnel when a
/// newer one is admitted: a restarted runner replaces its stale tunnel, never sits beside it.
/// Requests are decided newest first by a few deciders; those that waited longer than
/// [`MAX_WAIT`] are dropped (`newest_first`), so that a reconnect storm drains instead of
/// feeding itself.
pub async fn serve(callout: Callout) -> Result<JoinHandle<()>, BusError> {
    // A queue group: with several replicas serving the callout, each request gets one answer.
    let mut sub = callout
        .nc
        .queue_subscribe(subjects::AUTH_CALLOUT, subjects::AUTH_CALLOUT_GROUP.into())
        .await
        .map_err(BusError::transport)?;
    callout.nc.flush().await.map_err(BusError::transport)?;
    let decider = Arc::new(Decider { callout, queue: NewestFirst::new(MAX_WAIT) });
    Ok(tokio::spawn(async move {
        // Owned by this task: aborting it stops the deciders too.
        let mut deciders = tokio::task::JoinSet::new();
        for _ in 0..DECIDERS {
            deciders.spawn(decider.clone().run());
        }
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                decider.queue.push(Request { payload: msg.payload, reply });
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A JWT signed by `kp`, as a server signs its authorization requests.
    fn encode_jwt(mut claims: Value, kp: &KeyPair) -> Result<String, String> {
        claims["iat"] = json!(unix_now());
        claims["iss"] = json!(kp.public_key());
        claims["jti"] = json!("");
        let digest = Sha256::digest(claims.to_string().as_bytes());
        claims["jti"] = json!(data_encoding::BASE32_NOPAD.encode(&digest));
        let header = B64.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let payload = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let sig = kp.sign(signing_input.as_bytes()).map_err(|e| e.to_string())?;
        Ok(format!("{signing_input}.{}", B64.encode(sig)))
    }

    #[test]
    fn runner_uri_round_trip() {
        let id = RunnerId::parse("r-7").unwrap();
        assert_eq!(parse_runner_uri(&runner_uri(&id, 3)), Some((id, 3)));
        assert_eq!(parse_runner_uri("spiffe://cloudops.local/runner/r-7/gen/x"), None);
        assert_eq!(parse_runner_uri("spiffe://cloudops.local/runner/R.7/gen/1"), None);
        assert_eq!(parse_runner_uri("spiffe://evil/runner/r-7/gen/1"), None);
    }

    #[test]
    fn jwt_signature_verifies_and_tampering_fails() {
        let server = KeyPair::new_server();
        let tok = encode_jwt(json!({"nats": {"user_nkey": "U1"}}), &server).unwrap();
        let claims = decode_server_jwt(&tok).unwrap();
        assert_eq!(claims["nats"]["user_nkey"], "U1");
        let mut parts: Vec<&str> = tok.split('.').collect();
        let forged = B64.encode(br#"{"iss":"x","nats":{}}"#);
        parts[1] = &forged;
        assert!(decode_server_jwt(&parts.join(".")).is_err());
        // an account key is not a server
        let acct = KeyPair::new_account();
        let tok = encode_jwt(json!({}), &acct).unwrap();
        assert!(decode_server_jwt(&tok).unwrap_err().contains("server"));
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn runner_uris_parse_or_refuse(s in ".{0,120}", generation: u32) {
                let _ = parse_runner_uri(&s);
                let id = RunnerId::parse("r-1").unwrap();
                prop_assert_eq!(parse_runner_uri(&runner_uri(&id, generation)), Some((id, generation)));
            }

            /// Certificates are PEM from the hub; anything else is refused with a reason.
            #[test]
            fn garbage_certificates_are_refused(s in ".{0,300}") {
                let e = identity_from_pem(&s).unwrap_err();
                prop_assert!(!e.is_empty());
            }

            #[test]
            fn authorization_requests_of_any_shape_are_refused_not_panicked(s in "[A-Za-z0-9._-]{0,200}") {
                prop_assert!(decode_server_jwt(&s).is_err());
            }
        }
    }
}
