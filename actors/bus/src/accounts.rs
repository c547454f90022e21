//! NATS accounts: the isolation boundary between runners.
//!
//! Every runner lives alone in an account of its own, `R_<runner id>`, where the auth callout
//! places its connection. The control plane's account (`CLOUDOPS`, with JetStream) and a runner's
//! account meet only through explicit exports and imports:
//! - ops: `CLOUDOPS` exports the stream `cloudops.runner.>`; `R_<id>` imports
//!   `cloudops.runner.<id>.>` (the reply subject survives, so the runner answers the router);
//! - the runner's replies, session data and events: `CLOUDOPS` exports the services
//!   `cloudops.reply.>`, `cloudops.stream.>`, `cloudops.events.>`; `R_<id>` imports its own
//!   `<id>` subtree of each.
//!
//! A service import rewrites the reply subject of what crosses it (`_R_.…`), and whatever answers
//! in `CLOUDOPS` (a JetStream PubAck, say) goes back through that mapping into the runner's own
//! account, where nobody else lives. So nothing a runner publishes, with any subject and any reply
//! subject, reaches another runner, another session, the KV bucket or a control-plane subject:
//! the reply-subject injection of a shared account is gone (measured: shared/design/nats.md and
//! the red-team test in services/sandbox/tests/redteam.rs).
//!
//! Accounts are config-file accounts (an `include` inside the hub's `accounts {}`), rewritten and
//! reloaded when a runner is registered. nats-server 2.15.1 wires the imports of an account added
//! by a reload only on the *next* reload (measured here), so a registration reloads twice.

use std::fmt::Write as _;

use cloudops_schemas::RunnerId;

/// The control plane's account: its own user, JetStream, the services runners import.
pub const CONTROL_PLANE_ACCOUNT: &str = "CLOUDOPS";

/// Per-account limits of a runner, so that one runner cannot exhaust the hub for the others:
/// connections (its leaf, plus one spare for a restart that overlaps), subscriptions.
pub const RUNNER_MAX_CONNECTIONS: u32 = 4;
pub const RUNNER_MAX_LEAFNODES: u32 = 2;
pub const RUNNER_MAX_SUBSCRIPTIONS: u32 = 1000;

/// The account a runner lives in.
pub fn runner_account(runner: &RunnerId) -> String {
    format!("R_{runner}")
}

/// What `CLOUDOPS` offers to runner accounts (inside its account block).
pub fn control_plane_exports() -> &'static str {
    "exports: [\n      { stream: \"cloudops.runner.>\" }\n      { service: \"cloudops.reply.>\" }\n      { service: \"cloudops.stream.>\" }\n      { service: \"cloudops.events.>\" }\n    ]"
}

/// The accounts of every registered runner, as the hub's included config.
pub fn render_runner_accounts<'a>(runners: impl IntoIterator<Item = &'a RunnerId>) -> String {
    let mut s = String::from("# written by cloudops: one account per runner (see actors/bus/src/accounts.rs)\n");
    for r in runners {
        let _ = write!(
            s,
            "\"{acct}\" {{\n  limits {{ max_connections: {RUNNER_MAX_CONNECTIONS}, max_leafnodes: {RUNNER_MAX_LEAFNODES}, max_subscriptions: {RUNNER_MAX_SUBSCRIPTIONS} }}\n  imports: [\n    {{ stream: {{ account: {cp}, subject: \"cloudops.runner.{r}.>\" }} }}\n    {{ service: {{ account: {cp}, subject: \"cloudops.reply.{r}.>\" }} }}\n    {{ service: {{ account: {cp}, subject: \"cloudops.stream.{r}.>\" }} }}\n    {{ service: {{ account: {cp}, subject: \"cloudops.events.{r}.>\" }} }}\n  ]\n}}\n",
            acct = runner_account(r),
            cp = CONTROL_PLANE_ACCOUNT,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_runner_imports_only_its_own_subjects() {
        let (a, b) = (RunnerId::parse("rnr-a1").unwrap(), RunnerId::parse("rnr-b2").unwrap());
        let conf = render_runner_accounts([&a, &b]);
        let block_a = conf.split("\"R_rnr-b2\"").next().unwrap();
        assert!(block_a.contains("\"R_rnr-a1\" {"), "{conf}");
        for sub in ["runner", "reply", "stream", "events"] {
            assert!(block_a.contains(&format!("\"cloudops.{sub}.rnr-a1.>\"")), "{conf}");
            assert!(!block_a.contains(&format!("cloudops.{sub}.rnr-b2")), "{conf}");
        }
        assert_eq!(conf.matches("max_leafnodes").count(), 2);
        assert!(render_runner_accounts([]).lines().all(|l| l.starts_with('#')));
    }
}
