//! Every NATS subject the system uses. Nothing outside this crate builds a subject.
//!
//! Layout (per-runner permissions in [`crate::callout`] follow it):
//! - `cloudops.svc.<role>.<method>`: control-plane roles, queue group `<role>`.
//! - `cloudops.runner.<runner_id>.op`: ops to one runner (the runner may subscribe here only).
//! - `cloudops.reply.<runner_id>.<router_instance>.<token>`: the runner's replies; explicit,
//!   because `_INBOX` replies do not cross the leaf.
//! - `cloudops.events.<runner_id>.<event>`: runner → control plane events (heartbeat).
//! - `cloudops.stream.<runner_id>.<session>.…`: JetStream session data (logs, exec).
//! - `cloudops.control.changes`: committed writes to the tenancy tables, for every replica
//!   (control-plane account only; no runner account imports it).

use cloudops_schemas::RunnerId;

pub const RESOLVER_RESOLVE: &str = "cloudops.svc.resolver.resolve";
pub const AUTHORIZER_AUTHORIZE: &str = "cloudops.svc.authorizer.authorize";
pub const AUTHORIZER_RECORD_OUTCOME: &str = "cloudops.svc.authorizer.outcome";
pub const AUTHORIZER_RECORD_AUDIT: &str = "cloudops.svc.authorizer.audit";
pub const AUTHORIZER_AUTHENTICATE: &str = "cloudops.svc.authorizer.authenticate";
pub const ROUTER_ROUTE: &str = "cloudops.svc.router.route";

/// Every replica's resolver and authorizer listen here (no queue group: all must hear it).
pub const TENANCY_CHANGES: &str = "cloudops.control.changes";
/// Each control-plane replica says it is there (its id), so that writers know whom to wait for.
pub const REPLICAS: &str = "cloudops.control.replicas";

pub const QUEUE_RESOLVER: &str = "resolver";
pub const QUEUE_AUTHORIZER: &str = "authorizer";
pub const QUEUE_ROUTER: &str = "router";

/// Where the hub asks who a connecting runner is (nats-server auth callout).
pub const AUTH_CALLOUT: &str = "$SYS.REQ.USER.AUTH";
/// The queue group every replica answers the callout in.
pub const AUTH_CALLOUT_GROUP: &str = "cloudops-callout";
/// Every runner's heartbeat, for the control plane.
pub const RUNNER_HEARTBEATS: &str = "cloudops.events.*.heartbeat";

pub fn runner_op(runner: &RunnerId) -> String {
    format!("cloudops.runner.{runner}.op")
}

pub fn runner_queue(runner: &RunnerId) -> String {
    format!("runner-{runner}")
}

pub fn runner_heartbeat(runner: &RunnerId) -> String {
    format!("cloudops.events.{runner}.heartbeat")
}

/// The wildcard a router instance listens on for replies from every runner.
pub fn reply_wildcard(instance: &str) -> String {
    format!("cloudops.reply.*.{instance}.*")
}

/// A request's reply subject. The token is random (128 bits, 32 hex digits), so that nobody can
/// aim a message at another request's reply.
pub fn reply_subject(runner: &RunnerId, instance: &str, token: u128) -> String {
    format!("cloudops.reply.{runner}.{instance}.{token:032x}")
}

/// Parses a reply subject into (runner id token, instance, request token).
pub fn parse_reply_subject(subject: &str) -> Option<(&str, &str, u128)> {
    let mut it = subject.split('.');
    match (it.next(), it.next(), it.next(), it.next(), it.next(), it.next()) {
        (Some("cloudops"), Some("reply"), Some(runner), Some(inst), Some(tok), None)
            if tok.len() == 32 && tok.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Some((runner, inst, u128::from_str_radix(tok, 16).ok()?))
        }
        _ => None,
    }
}

/// Parses the runner id out of a heartbeat subject.
pub fn parse_heartbeat_subject(subject: &str) -> Option<RunnerId> {
    let rest = subject.strip_prefix("cloudops.events.")?;
    let id = rest.strip_suffix(".heartbeat")?;
    RunnerId::parse(id).ok()
}

/// Subject permissions of one runner, written from the runner's side.
pub struct RunnerPermissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

pub fn runner_permissions(runner: &RunnerId) -> RunnerPermissions {
    RunnerPermissions {
        publish: vec![
            format!("cloudops.reply.{runner}.>"),
            format!("cloudops.stream.{runner}.>"),
            format!("cloudops.events.{runner}.>"),
        ],
        subscribe: vec![format!("cloudops.runner.{runner}.>"), format!("_INBOX.{runner}.>")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_round_trip() {
        let r = RunnerId::parse("r-1").unwrap();
        let s = reply_subject(&r, "inst9", 42);
        assert_eq!(s, "cloudops.reply.r-1.inst9.0000000000000000000000000000002a");
        assert_eq!(parse_reply_subject(&s), Some(("r-1", "inst9", 42)));
        assert_eq!(parse_reply_subject("cloudops.reply.r-1.inst9.42"), None);
        assert_eq!(parse_reply_subject("cloudops.reply.r-1.inst9.+000000000000000000000000000002a"), None);
        assert_eq!(parse_reply_subject("cloudops.reply.r-1.inst9"), None);
        assert_eq!(parse_reply_subject("cloudops.reply.r-1.i.x"), None);
        assert_eq!(parse_reply_subject("cloudops.reply.r-1.i.1.extra"), None);
        assert_eq!(parse_reply_subject("other.reply.r-1.i.1"), None);
    }

    #[test]
    fn heartbeat_subject() {
        let r = RunnerId::parse("abc").unwrap();
        assert_eq!(parse_heartbeat_subject(&runner_heartbeat(&r)), Some(r));
        assert_eq!(parse_heartbeat_subject("cloudops.events.A*.heartbeat"), None);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn reply_subjects_round_trip_for_every_token(token: u128, inst in "[a-z0-9]{1,16}") {
            let r = RunnerId::parse("rnr-x").unwrap();
            let subject = reply_subject(&r, &inst, token);
            prop_assert_eq!(parse_reply_subject(&subject), Some(("rnr-x", inst.as_str(), token)));
        }

        /// Subjects off the wire (anything a peer may publish): no panic.
        #[test]
        fn subjects_off_the_wire_never_panic(s in "[a-z.*>0-9A-F_-]{0,120}") {
            let _ = parse_reply_subject(&s);
            if let Some(id) = parse_heartbeat_subject(&s) {
                prop_assert_eq!(runner_heartbeat(&id), s);
            }
        }
    }
}
