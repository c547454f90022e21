//! NATS accounts: the isolation boundary between runners, in operator mode.
//!
//! Every runner lives alone in an account of its own, named `R_<runner id>`, where the auth
//! callout places its connection. The control plane's account (`CLOUDOPS`, with JetStream) and a
//! runner's account meet only through explicit exports and imports:
//! - ops: `CLOUDOPS` exports the stream `cloudops.runner.>`; `R_<id>` imports
//!   `cloudops.runner.<id>.>` (the reply subject survives, so the runner answers the router);
//! - the runner's replies, session data and events: `CLOUDOPS` exports the services
//!   `cloudops.reply.>`, `cloudops.stream.>`, `cloudops.events.>`; `R_<id>` imports its own
//!   `<id>` subtree of each.
//!
//! A service import rewrites the reply subject of what crosses it (`_R_.…`), and whatever answers
//! in `CLOUDOPS` (a JetStream PubAck, say) goes back through that mapping into the runner's own
//! account, where nobody else lives. So nothing a runner publishes, with any subject and any reply
//! subject, reaches another runner, another session, the KV bucket or a control-plane subject
//! (measured: shared/design/nats.md and the red-team test in services/sandbox/tests/redteam.rs).
//!
//! The hub runs in **operator mode**: every account is a JWT signed by our operator key, and the
//! hub's `full` resolver takes a new runner's account at run time (`$SYS.REQ.CLAIMS.UPDATE`),
//! without a reload, and keeps it on disk across restarts. That is what lets one hub hold 10,000
//! runners (config-file accounts needed two reloads per registration, each O(accounts)).
//!
//! Every key is derived from one 32-byte secret in the data dir ([`HubKeys`]), so the accounts,
//! the callout's signature and the runners' sentinel stay the same across restarts.

use std::path::Path;

use cloudops_schemas::RunnerId;
use hmac::{Hmac, Mac};
use nats_jwt_rs::{
    Claims,
    account::{Account, AccountLimits, ExternalAuthorization, JetStreamLimits, OperatorLimits},
    operator::Operator,
    types::{Export, ExportType, Import, NatsLimits, Permission, Permissions},
    user::{User, UserPermissionLimits},
};
use nkeys::{KeyPair, KeyPairType};
use sha2::Sha256;

/// The control plane's account: its own user, JetStream, the services runners import.
pub const CONTROL_PLANE_ACCOUNT: &str = "CLOUDOPS";

/// A service the callout account exports and the system account imports, only so that the hub
/// builds AUTH while it builds SYS at start ([`HubKeys::hub_accounts`]). Nobody serves it.
pub const AUTH_PRELOAD_SUBJECT: &str = "cloudops.internal.auth-preload";

/// Per-account limits of a runner, so that one runner cannot exhaust the hub for the others:
/// connections (its leaf, plus one spare for a restart that overlaps), subscriptions.
pub const RUNNER_MAX_CONNECTIONS: i64 = 4;
pub const RUNNER_MAX_LEAFNODES: i64 = 2;
pub const RUNNER_MAX_SUBSCRIPTIONS: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a hub key (expected 64 hex digits)")]
    BadKeyFile { path: String },
    #[error("signing a NATS JWT: {0}")]
    Jwt(String),
}

/// The name of the account a runner lives in.
pub fn runner_account(runner: &RunnerId) -> String {
    format!("R_{runner}")
}

/// The control plane's own users on the hub, one per account it works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubUser {
    /// Account CLOUDOPS: ops, streams, the roles.
    ControlPlane,
    /// Account AUTH: answers the auth callout (listed in the account's `auth_users`).
    Callout,
    /// The system account: account pushes, KICK, server info.
    System,
}

/// The operator and every account and user key of our hub, derived from one secret.
pub struct HubKeys {
    secret: [u8; 32],
}

impl HubKeys {
    /// Reads the secret from `path`, or creates it (owner-only) when the file is missing.
    pub fn load_or_create(path: &Path) -> Result<Self, AccountsError> {
        let io = |source| AccountsError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bad = || AccountsError::BadKeyFile { path: path.display().to_string() };
                let bytes = data_encoding::HEXLOWER.decode(text.trim().as_bytes()).map_err(|_| bad())?;
                Ok(Self { secret: bytes.try_into().map_err(|_| bad())? })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret: [u8; 32] = rand::random();
                crate::natsd::write_private(path, data_encoding::HEXLOWER.encode(&secret).as_bytes()).map_err(io)?;
                Ok(Self { secret })
            }
            Err(e) => Err(io(e)),
        }
    }

    #[cfg(test)]
    fn from_secret(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    fn derive(&self, kind: KeyPairType, label: &str) -> KeyPair {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(label.as_bytes());
        let raw: [u8; 32] = mac.finalize().into_bytes().into();
        KeyPair::new_from_raw(kind, raw).expect("32 bytes make a key")
    }

    /// The password the nodes of a hub cluster present to each other on their routes: with it,
    /// a certificate of our CA alone (a runner's) is never taken as a route.
    pub fn route_password(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(b"route:password");
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    pub fn operator(&self) -> KeyPair {
        self.derive(KeyPairType::Operator, "operator")
    }
    pub fn system_account(&self) -> KeyPair {
        self.derive(KeyPairType::Account, "account:SYS")
    }
    /// The callout account; it also signs the callout's responses.
    pub fn auth_account(&self) -> KeyPair {
        self.derive(KeyPairType::Account, "account:AUTH")
    }
    pub fn control_plane_account(&self) -> KeyPair {
        self.derive(KeyPairType::Account, "account:CLOUDOPS")
    }
    /// The account of one runner; the callout signs that runner's user JWT with it, which is
    /// how operator mode places the connection there.
    pub fn runner_account(&self, runner: &RunnerId) -> KeyPair {
        self.derive(KeyPairType::Account, &format!("account:{}", runner_account(runner)))
    }
    fn user(&self, user: HubUser) -> KeyPair {
        self.derive(KeyPairType::User, &format!("user:{user:?}"))
    }

    /// The operator JWT the hub trusts.
    pub fn operator_jwt(&self) -> Result<String, AccountsError> {
        let op = self.operator();
        let mut c = Operator::new_claims("cloudops".into(), op.public_key());
        c.nats.system_account = Some(self.system_account().public_key());
        sign(&c, &op)
    }

    /// The three accounts of the hub itself (preloaded by its config): public key and JWT.
    pub fn hub_accounts(&self) -> Result<Vec<(String, String)>, AccountsError> {
        let op = self.operator();
        let mut out = Vec::new();

        // AUTH must be whole before the hub takes its first connection. nats-server builds an
        // account on its first lookup and hands the half-built one to concurrent lookups, with
        // its external authorization not yet set; a runner arriving then (a reconnect storm
        // after a hub restart) would be held as the deny-all sentinel instead of being asked
        // about, and stay unreachable. The system account is built at start, before the
        // listeners open, and building it builds what it imports: so SYS imports a service
        // that AUTH exports and nobody serves.
        let auth = self.auth_account();
        let sys = self.system_account();
        let mut c = Account::new_claims("SYS".into(), sys.public_key());
        c.nats.imports = Some(vec![Import {
            name: "auth-preload".into(),
            subject: AUTH_PRELOAD_SUBJECT.into(),
            account: auth.public_key(),
            export_type: Some(ExportType::Service),
            ..Default::default()
        }]);
        out.push((sys.public_key(), sign(&c, &op)?));

        let mut c = Account::new_claims("AUTH".into(), auth.public_key());
        c.nats.exports = Some(vec![Export {
            name: "auth-preload".into(),
            subject: AUTH_PRELOAD_SUBJECT.into(),
            export_type: Some(ExportType::Service),
            ..Default::default()
        }]);
        c.nats.authorization = Some(ExternalAuthorization {
            auth_users: Some([self.user(HubUser::Callout).public_key()].into()),
            // The callout signs each runner's user with that runner's account key: any
            // account of this operator may be a placement (only we hold the keys).
            allowed_accounts: Some(["*".to_string()].into()),
            xkey: None,
        });
        out.push((auth.public_key(), sign(&c, &op)?));

        let cp = self.control_plane_account();
        let mut c = Account::new_claims(CONTROL_PLANE_ACCOUNT.into(), cp.public_key());
        let export = |subject: &str, kind: ExportType| Export {
            subject: subject.into(),
            export_type: Some(kind),
            ..Default::default()
        };
        c.nats.exports = Some(vec![
            export("cloudops.runner.>", ExportType::Stream),
            export("cloudops.reply.>", ExportType::Service),
            export("cloudops.stream.>", ExportType::Service),
            export("cloudops.events.>", ExportType::Service),
        ]);
        c.nats.limits = Some(OperatorLimits {
            jetstream: Some(JetStreamLimits {
                memory_storage: Some(-1),
                disk_storage: Some(-1),
                streams: Some(-1),
                consumer: Some(-1),
                ..Default::default()
            }),
            ..Default::default()
        });
        out.push((cp.public_key(), sign(&c, &op)?));
        Ok(out)
    }

    /// A runner's account: alone, limited, importing only its own subjects.
    pub fn runner_account_jwt(&self, runner: &RunnerId) -> Result<String, AccountsError> {
        let acct = self.runner_account(runner);
        let mut c = Account::new_claims(runner_account(runner), acct.public_key());
        let cp = self.control_plane_account().public_key();
        let import = |what: &str, kind: ExportType| Import {
            subject: format!("cloudops.{what}.{runner}.>"),
            account: cp.clone(),
            export_type: Some(kind),
            ..Default::default()
        };
        c.nats.imports = Some(vec![
            import("runner", ExportType::Stream),
            import("reply", ExportType::Service),
            import("stream", ExportType::Service),
            import("events", ExportType::Service),
        ]);
        c.nats.limits = Some(OperatorLimits {
            nats: Some(NatsLimits { subs: Some(RUNNER_MAX_SUBSCRIPTIONS), data: Some(-1), payload: Some(-1) }),
            account: Some(AccountLimits {
                imports: Some(-1),
                exports: Some(0),
                wildcard_exports: Some(false),
                disallow_bearer: Some(true),
                conn: Some(RUNNER_MAX_CONNECTIONS),
                leaf: Some(RUNNER_MAX_LEAFNODES),
            }),
            jetstream: None,
            tiered_limits: None,
        });
        sign(&c, &self.operator())
    }

    /// A `.creds` file for one of the control plane's own users.
    pub fn user_creds(&self, user: HubUser) -> Result<String, AccountsError> {
        let (account, name) = match user {
            HubUser::ControlPlane => (self.control_plane_account(), "cloudops-control-plane"),
            HubUser::Callout => (self.auth_account(), "cloudops-auth-callout"),
            HubUser::System => (self.system_account(), "cloudops-system"),
        };
        let kp = self.user(user);
        let c = User::new_claims(name.into(), kp.public_key());
        let jwt = sign(&c, &account)?;
        creds(&jwt, &kp)
    }

    /// The sentinel: a bearer user of the callout account with no permissions at all. In
    /// operator mode a connection must name an account before the callout is asked about it;
    /// the hub takes this one for every connection that presents none (`default_sentinel`), so
    /// runners present only their certificate, and the callout decides who they are from it.
    pub fn sentinel_jwt(&self) -> Result<String, AccountsError> {
        let sentinel = self.derive(KeyPairType::User, "user:sentinel");
        let mut c = User::new_claims("cloudops-runner-sentinel".into(), sentinel.public_key());
        c.nats.permissions = UserPermissionLimits {
            permissions: Permissions {
                publish: Permission { allow: vec![], deny: vec![">".into()] },
                subscribe: Permission { allow: vec![], deny: vec![">".into()] },
                resp: None,
            },
            bearer_token: Some(true),
            ..Default::default()
        };
        sign(&c, &self.auth_account())
    }
}

/// Hands an account JWT to the hub's resolver (`$SYS.REQ.CLAIMS.UPDATE`, on a system-account
/// connection) and waits for the server to confirm it.
pub async fn push_account(sys: &async_nats::Client, jwt: &str) -> Result<(), crate::BusError> {
    let reply = sys
        .request("$SYS.REQ.CLAIMS.UPDATE", jwt.to_string().into())
        .await
        .map_err(|e| crate::BusError::Transport(format!("account update: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&reply.payload)
        .map_err(|e| crate::BusError::Transport(format!("account update: unreadable reply: {e}")))?;
    match v.get("error") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(e) => Err(crate::BusError::Transport(format!(
            "the hub refused an account: {}",
            e["description"].as_str().unwrap_or("no reason given")
        ))),
    }
}

fn sign<T>(claims: &Claims<T>, key: &KeyPair) -> Result<String, AccountsError>
where
    T: nats_jwt_rs::Claim + serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    claims.encode(key).map_err(|e| AccountsError::Jwt(e.to_string()))
}

/// The `.creds` format (JWT and seed) that nats-server's remotes and the clients read.
pub fn creds(jwt: &str, kp: &KeyPair) -> Result<String, AccountsError> {
    let seed = kp.seed().map_err(|e| AccountsError::Jwt(e.to_string()))?;
    Ok(format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    ))
}

#[cfg(test)]
mod tests {
    use nats_jwt_rs::Claims;

    use super::*;

    fn claims<T: nats_jwt_rs::Claim + serde::Serialize + serde::de::DeserializeOwned + Clone>(jwt: &str) -> Claims<T> {
        Claims::<T>::decode(jwt).unwrap()
    }

    /// The claims as the server reads them (nats-jwt-rs cannot read back an import it wrote
    /// without a name).
    fn json(jwt: &str) -> serde_json::Value {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn each_runner_imports_only_its_own_subjects_from_the_control_plane() {
        let keys = HubKeys::from_secret([7; 32]);
        let (a, b) = (RunnerId::parse("rnr-a1").unwrap(), RunnerId::parse("rnr-b2").unwrap());
        let c = json(&keys.runner_account_jwt(&a).unwrap());
        assert_eq!(c["iss"], keys.operator().public_key());
        assert_eq!(c["sub"], keys.runner_account(&a).public_key());
        assert_eq!(c["name"], "R_rnr-a1");
        let imports = c["nats"]["imports"].as_array().unwrap();
        assert_eq!(imports.len(), 4);
        for i in imports {
            let subject = i["subject"].as_str().unwrap();
            assert!(subject.starts_with("cloudops.") && subject.ends_with(".rnr-a1.>"), "{subject}");
            assert_eq!(i["account"], keys.control_plane_account().public_key());
        }
        let limits = &c["nats"]["limits"];
        assert_eq!(
            (limits["conn"].as_i64(), limits["leaf"].as_i64()),
            (Some(RUNNER_MAX_CONNECTIONS), Some(RUNNER_MAX_LEAFNODES))
        );
        assert_eq!(limits["subs"].as_i64(), Some(RUNNER_MAX_SUBSCRIPTIONS));
        assert_ne!(keys.runner_account(&a).public_key(), keys.runner_account(&b).public_key());
    }

    #[test]
    fn keys_are_stable_for_one_secret_and_differ_between_secrets() {
        let (k1, k2) = (HubKeys::from_secret([1; 32]), HubKeys::from_secret([2; 32]));
        assert_eq!(k1.operator().public_key(), HubKeys::from_secret([1; 32]).operator().public_key());
        assert_ne!(k1.operator().public_key(), k2.operator().public_key());
        assert!(k1.operator().public_key().starts_with('O'));
        assert!(k1.auth_account().public_key().starts_with('A'));
    }

    #[test]
    fn the_callout_account_names_its_responder_and_the_sentinel_grants_nothing() {
        let keys = HubKeys::from_secret([3; 32]);
        let accounts = keys.hub_accounts().unwrap();
        let auth = accounts.iter().find(|(k, _)| *k == keys.auth_account().public_key()).unwrap();
        let auth = json(&auth.1);
        assert_eq!(
            auth["nats"]["authorization"]["auth_users"],
            serde_json::json!([keys.user(HubUser::Callout).public_key()])
        );
        // What it exports, and only so that the hub builds it with the system account.
        assert_eq!(auth["nats"]["exports"][0]["subject"], AUTH_PRELOAD_SUBJECT);
        let sys = accounts.iter().find(|(k, _)| *k == keys.system_account().public_key()).unwrap();
        assert_eq!(json(&sys.1)["nats"]["imports"][0]["account"], keys.auth_account().public_key());
        let s = claims::<User>(&keys.sentinel_jwt().unwrap());
        assert_eq!(s.iss, keys.auth_account().public_key());
        assert_eq!(s.nats.permissions.bearer_token, Some(true));
        assert_eq!(s.nats.permissions.permissions.publish.deny, vec![">".to_string()]);
        assert_eq!(s.nats.permissions.permissions.subscribe.deny, vec![">".to_string()]);
        let op = claims::<Operator>(&keys.operator_jwt().unwrap());
        assert_eq!(op.nats.system_account, Some(keys.system_account().public_key()));
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.key");
        let k1 = HubKeys::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(HubKeys::load_or_create(&path).unwrap().operator().public_key(), k1.operator().public_key());
        std::fs::write(&path, "nope").unwrap();
        assert!(matches!(HubKeys::load_or_create(&path), Err(AccountsError::BadKeyFile { .. })));
    }
}
