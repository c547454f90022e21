//! The long-lived work of the soak, beside its ops: a `logs -f` followed for the whole run (a
//! line written every 20 ms, read back over SSE, the stream resumed from its last event id
//! whenever it breaks), and exec sessions on `cat`, one after another, typed into four times a
//! second.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::record::Recorder;

/// How the soak reaches the gateway.
#[derive(Clone)]
pub struct Gateway {
    /// Ops (each within 15 s).
    pub http: reqwest::Client,
    /// Server-sent event streams.
    pub streams: reqwest::Client,
    pub url: String,
    pub api_key: String,
    pub connection: String,
}

impl Gateway {
    /// `POST /v1/ops/kubernetes/<verb>` in namespace `default`; the answer's JSON.
    pub async fn op(&self, verb: &str, mut body: Value) -> Result<Value> {
        body["connection"] = json!(self.connection);
        body["namespace"] = json!("default");
        let r = self
            .http
            .post(format!("{}/v1/ops/kubernetes/{verb}", self.url))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        ensure!(status.is_success(), "{verb}: {status}: {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn session(&self, verb: &str, body: Value) -> Result<String> {
        let v = self.op(verb, body).await?;
        Ok(v["session"].as_str().context("no session in the answer")?.to_string())
    }

    async fn events(&self, session: &str, last_id: Option<&str>) -> Result<reqwest::Response> {
        let mut req = self.streams.get(format!("{}/v1/sessions/{session}/events", self.url)).bearer_auth(&self.api_key);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let r = req.send().await?;
        let status = r.status();
        ensure!(status.is_success(), "events of {session}: {status}: {}", r.text().await.unwrap_or_default());
        Ok(r)
    }
}

/// What the log follow saw: lines written, and each line's number as it arrived.
pub struct LogReport {
    pub written: u64,
    pub received: Vec<u64>,
    /// Times the SSE stream broke and was resumed.
    pub resumed: usize,
    /// The longest wait for the next line while lines were being written, and when it ended.
    pub longest_gap: (Duration, Instant),
}

impl LogReport {
    pub fn lost(&self) -> u64 {
        let got: HashSet<_> = self.received.iter().collect();
        (0..self.written).filter(|n| !got.contains(n)).count() as u64
    }
    pub fn repeated(&self) -> usize {
        self.received.len() - self.received.iter().collect::<HashSet<_>>().len()
    }
    pub fn in_order(&self) -> bool {
        self.received.windows(2).all(|w| w[0] < w[1])
    }
}

fn line(n: u64) -> String {
    format!("SOAK-{n:08}")
}

/// Follows `pod`'s log until `until` while `append` writes a line every 20 ms, then reads on
/// until the last line written arrives (30 s at most).
pub async fn follow_logs(
    gw: Gateway,
    pod: String,
    until: Instant,
    rec: Recorder,
    append: impl Fn(&str) + Send + 'static,
) -> Result<LogReport> {
    let session = gw.session("logs", json!({"pod": pod, "follow": true, "tail": 0})).await?;
    let written = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            while Instant::now() < until {
                tick.tick().await;
                append(&line(written.load(Ordering::Relaxed)));
                written.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let mut received: Vec<u64> = Vec::new();
    let (mut resumed, mut last_id) = (0, None::<String>);
    let (mut last_line, mut longest_gap) = (Instant::now(), (Duration::ZERO, Instant::now()));
    let deadline = until + Duration::from_secs(30);
    // Done when the writer is, and its last line has arrived.
    let done = |received: &[u64]| {
        writer.is_finished() && received.last().is_some_and(|&n| n + 1 >= written.load(Ordering::Relaxed))
    };
    'follow: while !done(&received) && Instant::now() < deadline {
        let resp = match gw.events(&session, last_id.as_deref()).await {
            Ok(r) => r,
            Err(e) => {
                rec.error(Instant::now(), "logs -f", e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut events = resp.bytes_stream().eventsource();
        while !done(&received) && Instant::now() < deadline {
            // A second at a time, to look at the writer.
            let ev = match tokio::time::timeout(Duration::from_secs(1), events.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(ev))) => ev,
                Ok(Some(Err(e))) => {
                    rec.error(Instant::now(), "logs -f", anyhow::anyhow!("the stream broke: {e}"));
                    resumed += 1;
                    continue 'follow;
                }
                Ok(None) => {
                    resumed += 1;
                    continue 'follow;
                }
            };
            if !ev.id.is_empty() {
                last_id = Some(ev.id.clone());
            }
            match ev.event.as_str() {
                "message" => {
                    let before = received.len();
                    received.extend(
                        ev.data
                            .lines()
                            .filter_map(|l| l.trim().strip_prefix("SOAK-"))
                            .filter_map(|n| n.parse::<u64>().ok()),
                    );
                    rec.log_lines(received.len() - before);
                    let now = Instant::now();
                    if received.len() > before && now - last_line > longest_gap.0 {
                        longest_gap = (now - last_line, now);
                    }
                    last_line = now;
                }
                "end" => bail!("the log follow ended: {}", ev.data),
                _ => {}
            }
        }
    }
    writer.await?;
    let _ = gw.http.delete(format!("{}/v1/sessions/{session}", gw.url)).bearer_auth(&gw.api_key).send().await;
    Ok(LogReport { written: written.load(Ordering::Relaxed), received, resumed, longest_gap })
}

/// Exec sessions on `cat` until `until`: each takes 20 keystrokes, one every 250 ms, and waits
/// for each echo (5 s at most). A failed keystroke ends its session; the next one starts.
pub async fn exec_loop(gw: Gateway, pod: String, until: Instant, rec: Recorder) -> usize {
    let mut sessions = 0;
    while Instant::now() < until {
        sessions += 1;
        if let Err(e) = one_exec(&gw, &pod, until, &rec).await {
            rec.error(Instant::now(), "exec", e);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    sessions
}

async fn one_exec(gw: &Gateway, pod: &str, until: Instant, rec: &Recorder) -> Result<()> {
    let session = gw.session("exec", json!({"pod": pod, "command": ["cat"], "stdin": true})).await?;
    let result = type_into(gw, &session, until, rec).await;
    let _ = gw.http.delete(format!("{}/v1/sessions/{session}", gw.url)).bearer_auth(&gw.api_key).send().await;
    result
}

async fn type_into(gw: &Gateway, session: &str, until: Instant, rec: &Recorder) -> Result<()> {
    let mut events = gw.events(session, None).await?.bytes_stream().eventsource();
    let input = format!("{}/v1/sessions/{session}/input", gw.url);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    for seq in 1..=20u64 {
        tick.tick().await;
        if Instant::now() >= until {
            break;
        }
        let sent = Instant::now();
        let r = gw
            .http
            .post(&input)
            .bearer_auth(&gw.api_key)
            .json(&json!({"seq": seq, "stdin": B64.encode("k")}))
            .send()
            .await?;
        ensure!(r.status().is_success(), "keystroke {seq}: {}: {}", r.status(), r.text().await.unwrap_or_default());
        let echo = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) if ev.event == "stdout" => return Ok(()),
                    Ok(ev) if ev.event == "end" => bail!("the session ended: {}", ev.data),
                    Ok(_) => {}
                    Err(e) => bail!("the terminal's stream broke: {e}"),
                }
            }
            bail!("the terminal's stream ended")
        })
        .await
        .with_context(|| format!("no echo of keystroke {seq} within 5 s"))?;
        echo?;
        rec.keystroke(sent);
    }
    Ok(())
}
