//! `planton audit`: the audit log, exec sessions, and their recordings played back.

use clap::Subcommand;
use cloudops_api as api;

use super::{enc, show};
use crate::{CliError, Ctx, ListFormat, NONE, Result, or_none, print_items, when};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    List {
        /// 10m, 2h, 1d or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long, value_parser = ["allowed", "denied"])]
        outcome: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=u64::from(cloudops_api::MAX_LIST)))]
        limit: u64,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Exec sessions: who ran what where, when, and how it ended.
    Sessions {
        /// 10m, 2h, 1d or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=u64::from(cloudops_api::MAX_LIST)))]
        limit: u64,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Play back a recorded exec session's output, at its own pace.
    Replay {
        session: String,
        /// Faster (2) or slower (0.5) than it happened.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Pauses longer than this many seconds are shortened to it.
        #[arg(long, default_value_t = 2.0)]
        max_idle: f64,
        /// No pauses at all.
        #[arg(long)]
        instant: bool,
        /// Also show what was typed, between ⟨ ⟩.
        #[arg(long)]
        input: bool,
        /// json: the session and its frames ([ms, "i"|"o"|"e", base64]).
        #[arg(short, long, value_parser = ["json", "yaml"])]
        output: Option<String>,
    },
}

pub async fn audit(ctx: &mut Ctx<'_, '_>, cmd: AuditCommand) -> Result<()> {
    let org = enc(&ctx.org()?);
    let c = ctx.client()?;
    // limit=N&since=…&principal=…&outcome=… (only what was given)
    let query = |limit: u64, filters: [(&str, Option<String>); 3]| {
        let mut q = vec![format!("limit={limit}")];
        q.extend(filters.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(&v)))));
        q.join("&")
    };
    let (since, principal, outcome, limit, output) = match cmd {
        AuditCommand::List { since, principal, outcome, limit, output } => (since, principal, outcome, limit, output),
        AuditCommand::Sessions { since, principal, limit, output } => {
            let q = query(limit, [("since", since), ("principal", principal), ("outcome", None)]);
            let v: api::Items<api::ExecSession> = c.get_as(&format!("/v1/orgs/{org}/sessions?{q}")).await?;
            let header = ["SESSION", "STARTED", "PRINCIPAL", "POD", "CONTAINER", "COMMAND", "EXIT"];
            print_items(ctx, &v, output, &header, |r| crate::exec::session_line(r).to_vec());
            return Ok(());
        }
        AuditCommand::Replay { session, speed, max_idle, instant, input, output } => {
            if !(speed > 0.0 && speed.is_finite()) {
                return Err(CliError::Message(format!("--speed {speed}: must be a positive number")));
            }
            let v: api::ExecSessionReplay = c.get_as(&format!("/v1/orgs/{org}/sessions/{}", enc(&session))).await?;
            match output.as_deref() {
                Some("json") => show(ctx, &v, ListFormat::Json, |_| String::new()),
                Some(_) => show(ctx, &v, ListFormat::Yaml, |_| String::new()),
                None => {
                    let pace = (!instant).then_some((speed, max_idle.max(0.0)));
                    crate::exec::replay(ctx, &v, pace, input).await?;
                }
            }
            return Ok(());
        }
    };
    let q = query(limit, [("since", since), ("principal", principal), ("outcome", outcome)]);
    // Up to 10,000 records: a spinner on a terminal while they come.
    let waiting = crate::progress::spinner("reading the audit log");
    let v: Result<api::Items<api::AuditRecord>> = c.get_as(&format!("/v1/orgs/{org}/audit?{q}")).await;
    waiting.finish_and_clear();
    let header = ["TIME", "PRINCIPAL", "MODE", "OP", "TARGET", "DECISION", "RESULT", "LATENCY", "REASON"];
    print_items(ctx, &v?, output, &header, |r| {
        vec![
            when(&r.at),
            r.principal.clone(),
            r.mode.clone(),
            r.op.clone(),
            r.target.clone(),
            r.decision.clone(),
            or_none(&r.result),
            r.latency_us.map_or(NONE.into(), |u| format!("{:.1}ms", u as f64 / 1000.0)),
            r.reason.clone(),
        ]
    });
    Ok(())
}
