//! An exec session's recording: its output and recorded input read from JetStream until the
//! session ends, capped in bytes and counted, then stored with how it ended for `planton audit
//! replay`. If the runner goes away, no end marker comes: the recorder probes for it.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use cloudops_bus::streams::{self, SessionInfo};
use cloudops_schemas::{RunnerId, v1};
use futures::StreamExt;
use serde_json::json;
use tracing::warn;

use crate::{
    routes::AppState,
    sessions::{Control, LOST_GRACE, control_with},
};

/// Without a message for this long, the recorder asks the runner whether the session still runs.
pub const RECORD_PROBE_EVERY: Duration = Duration::from_secs(20);

/// What a recording keeps: frames up to a byte cap, and counts of everything.
pub struct Recording {
    cap: usize,
    started_ms: Option<i64>,
    lines: String,
    pub total_bytes: i64,
    pub recorded_bytes: i64,
    pub truncated: bool,
}

impl Recording {
    pub fn new(cap: usize) -> Self {
        Self { cap, started_ms: None, lines: String::new(), total_bytes: 0, recorded_bytes: 0, truncated: false }
    }

    /// One frame: `kind` is `i` (input), `o` (stdout) or `e` (stderr).
    pub fn push(&mut self, at_ms: i64, kind: char, data: &[u8]) {
        let start = *self.started_ms.get_or_insert(at_ms);
        self.total_bytes += data.len() as i64;
        if self.truncated || self.recorded_bytes as usize + data.len() > self.cap {
            self.truncated = true;
            return;
        }
        self.recorded_bytes += data.len() as i64;
        self.lines.push_str(&json!([(at_ms - start).max(0), kind.to_string(), B64.encode(data)]).to_string());
        self.lines.push('\n');
    }

    pub fn push_message(&mut self, m: &streams::SessionMessage) {
        let (kind, data) = match (m.input, m.payload.split_first()) {
            (true, _) => ('i', &m.payload[..]),
            (false, Some((2, rest))) => ('e', rest),
            (false, Some((_, rest))) => ('o', rest),
            (false, None) => return,
        };
        self.push(m.published_ms, kind, data);
    }

    pub fn finish(self, end: String) -> cloudops_store::ExecEnd {
        let exit_code = end.strip_prefix("exit: ").and_then(|c| c.trim().parse().ok());
        cloudops_store::ExecEnd {
            end,
            exit_code,
            total_bytes: self.total_bytes,
            recorded_bytes: self.recorded_bytes,
            truncated: self.truncated,
            recording: self.lines,
        }
    }
}

/// Reads an exec session's output and recorded input until its end, then stores how it ended
/// and the recording. If the runner dies, no end marker comes: the probe finds out.
pub(crate) async fn record(s: AppState, info: SessionInfo, id: String) {
    let mut rec = Recording::new(s.deps.config.exec_record_cap);
    let end = match RunnerId::parse(info.runner_id.clone()) {
        Err(e) => format!("error: {e}"),
        Ok(runner) => match streams::read_recording(&s.deps.nats, &runner, &id).await {
            Err(e) => format!("error: recording not started: {e}"),
            Ok(messages) => {
                let mut messages = std::pin::pin!(messages);
                let mut quiet_probes = 0;
                let mut lost_since: Option<tokio::time::Instant> = None;
                loop {
                    match tokio::time::timeout(RECORD_PROBE_EVERY, messages.next()).await {
                        Ok(Some(Ok(m))) => {
                            (quiet_probes, lost_since) = (0, None);
                            if let Some(end) = m.end {
                                break end;
                            }
                            rec.push_message(&m);
                        }
                        Ok(Some(Err(e))) => break format!("error: recording interrupted: {e}"),
                        Ok(None) => break "error: recording interrupted".into(),
                        Err(_) => {
                            let probe = v1::SessionControl { session: id.clone(), probe: true, ..Default::default() };
                            match control_with(&s, &info, probe).await {
                                Control::Alive => lost_since = None,
                                // Lost only at the second probe in a row (20 s later): a runner
                                // moving to another hub node is back well before.
                                Control::Lost(why)
                                    if lost_since.get_or_insert_with(tokio::time::Instant::now).elapsed()
                                        < LOST_GRACE =>
                                {
                                    tracing::debug!(session = %id, reason = %why, "recording probe not delivered");
                                }
                                Control::Lost(why) => break format!("error: runner lost: {why}"),
                                // Ended on the runner: its end marker should follow at once.
                                Control::Ended => {
                                    quiet_probes += 1;
                                    if quiet_probes >= 2 {
                                        break "error: the session ended without an end marker".into();
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    };
    if let Err(e) = s.deps.store.exec_session_finish(&id, rec.finish(end)).await {
        warn!(session = %id, error = %e, "exec session record not stored");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn recording_caps_and_counts() {
        let mut r = Recording::new(8);
        r.push(1000, 'i', b"ls\r");
        r.push(1012, 'o', b"a b\r\n");
        r.push(1020, 'o', b"more");
        assert!(r.truncated);
        assert_eq!((r.total_bytes, r.recorded_bytes), (12, 8));
        let end = r.finish("exit: 3".into());
        assert_eq!(end.exit_code, Some(3));
        let frames: Vec<Value> = end.recording.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1][0], 12);
        assert_eq!(frames[1][1], "o");
        assert_eq!(B64.decode(frames[1][2].as_str().unwrap()).unwrap(), b"a b\r\n");
        assert_eq!(Recording::new(1).finish("cancelled".into()).exit_code, None);
    }
}
