//! `planton kubectl exec`: an interactive terminal (raw mode, window resize, Ctrl-C delivered to
//! the remote process) or piped stdin/stdout/stderr, through the gateway's session endpoints:
//! output over server-sent events (resumed from the last event id if the connection drops),
//! input, resizes and end-of-input as ordered POSTs. The remote exit code becomes ours.

use std::io::{IsTerminal, Read, Write};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use cloudops_api as api;
use serde_json::json;
use tokio::sync::mpsc;

use crate::{CliError, Client, Ctx, Result, kubectl::TargetArgs, when};

pub(crate) struct ExecArgs {
    pub pod: Option<String>,
    pub container: Option<String>,
    pub stdin: bool,
    pub tty: bool,
    pub command: Vec<String>,
    pub target: TargetArgs,
}

/// Puts the terminal in raw mode, and back as it was when dropped (also on errors and panics).
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    fn enter() -> std::io::Result<Self> {
        let fd = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

/// What the input task sends, in order.
enum Input {
    Bytes(Vec<u8>),
    Eof,
    Resize(u16, u16),
}

/// Reads stdin on a thread of its own (a blocking read must not hold the runtime), or the
/// test's reader. `None` from the channel: nothing more will come.
fn read_stdin(io_stdin: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>) -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(64);
    match io_stdin {
        Some(mut r) => {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 8192];
                loop {
                    match r.read(&mut buf).await {
                        Ok(n) if n > 0 => {
                            if tx.send(Input::Bytes(buf[..n].to_vec())).await.is_err() {
                                return;
                            }
                        }
                        _ => {
                            let _ = tx.send(Input::Eof).await;
                            return;
                        }
                    }
                }
            });
        }
        None => {
            std::thread::spawn(move || {
                let mut stdin = std::io::stdin();
                let mut buf = vec![0u8; 8192];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            if tx.blocking_send(Input::Bytes(buf[..n].to_vec())).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        _ => {
                            let _ = tx.blocking_send(Input::Eof);
                            return;
                        }
                    }
                }
            });
        }
    }
    rx
}

/// Sends input to the session, one ordered POST at a time; resizes when the window changes.
async fn pump_input(c: Client, session: String, mut input: mpsc::Receiver<Input>, tty: bool) -> Result<()> {
    let path = format!("/v1/sessions/{session}/input");
    let mut winch =
        if tty { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok() } else { None };
    let mut seq = 0u64;
    loop {
        let next = tokio::select! {
            i = input.recv() => match i {
                Some(i) => i,
                None => return Ok(()),
            },
            Some(()) = async { match winch.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } } => {
                match terminal_size() {
                    Some((cols, rows)) => Input::Resize(cols, rows),
                    None => continue,
                }
            }
        };
        seq += 1;
        let (body, last) = match next {
            Input::Bytes(b) => (json!({"seq": seq, "stdin": B64.encode(&b)}), false),
            Input::Eof => (json!({"seq": seq, "close_stdin": true}), true),
            Input::Resize(cols, rows) => (json!({"seq": seq, "resize": {"cols": cols, "rows": rows}}), false),
        };
        // A dropped connection is retried with the same seq: the runner applies it once.
        let mut attempt = 0;
        loop {
            match c.post(&path, &body).await {
                Ok(_) => break,
                Err(CliError::Message(_)) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                // The session ended: output will say how.
                Err(e) => return Err(e),
            }
        }
        if last && !tty {
            return Ok(());
        }
    }
}

/// How the session's output ended.
enum End {
    Exit(i32),
    Cancelled,
    Error(String),
}

fn parse_end(end: &str) -> End {
    match end.strip_prefix("exit: ").map(|c| c.trim().parse::<i32>()) {
        Some(Ok(code)) => End::Exit(code),
        _ if end == "cancelled" => End::Cancelled,
        _ => End::Error(end.strip_prefix("error: ").unwrap_or(end).to_string()),
    }
}

pub(crate) async fn exec(ctx: &mut Ctx<'_, '_>, c: &Client, a: ExecArgs) -> Result<()> {
    if a.command.is_empty() {
        return Err(CliError::Message(
            "you must specify at least one command for the container: planton kubectl exec POD -- COMMAND".into(),
        ));
    }
    if a.pod.is_none() && a.target.resource.is_none() {
        return Err(CliError::Message(
            "a pod name is required: planton kubectl exec POD -- COMMAND (or -r RESOURCE to use its workload)".into(),
        ));
    }
    let test_stdin = ctx.io.stdin.take();
    let stdin_is_terminal = test_stdin.is_none() && std::io::stdin().is_terminal();
    let mut tty = a.tty;
    if tty && !a.stdin {
        ctx.note("Unable to use a TTY - -i/--stdin is required with -t/--tty");
        tty = false;
    } else if tty && !stdin_is_terminal {
        ctx.note("Unable to use a TTY - input is not a terminal or the right kind of file");
        tty = false;
    }
    let size = if tty { terminal_size() } else { None };
    let op = api::KubeOpBody {
        pod: a.pod.clone().unwrap_or_default(),
        container: a.container.clone().unwrap_or_default(),
        command: a.command,
        stdin: a.stdin,
        tty,
        size: size.map(|(cols, rows)| api::TerminalSize { cols: cols.into(), rows: rows.into() }),
        ..Default::default()
    };
    let started: api::SessionStarted =
        c.post_as("/v1/ops/kubernetes/exec", &crate::kubectl::body(ctx, &a.target, op)).await?;
    let session = started.session;

    let raw = if tty {
        Some(RawMode::enter().map_err(|e| CliError::Message(format!("cannot put the terminal in raw mode: {e}")))?)
    } else {
        None
    };
    let input = a.stdin.then(|| tokio::spawn(pump_input(c.clone(), session.clone(), read_stdin(test_stdin), tty)));
    // Without a terminal, Ctrl-C ends the session here (with one, it goes to the remote process).
    let cancel = (!tty).then(|| {
        let (c, session) = (c.clone(), session.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = c.delete(&format!("/v1/sessions/{session}")).await;
            }
        })
    });
    let end = crate::kubectl::read_events(ctx, c, &session, |ctx, event, data| {
        let (to_err, bytes) = match event {
            Some("stdout") => (false, B64.decode(data).unwrap_or_default()),
            Some("stderr") => (true, B64.decode(data).unwrap_or_default()),
            _ => return,
        };
        let w: &mut dyn Write = if to_err { &mut *ctx.io.err } else { &mut *ctx.io.out };
        let _ = w.write_all(&bytes);
        let _ = w.flush();
    })
    .await;
    drop(raw);
    if let Some(t) = input {
        t.abort();
    }
    if let Some(t) = cancel {
        t.abort();
    }
    match parse_end(&end?) {
        End::Exit(0) => Ok(()),
        End::Exit(code) => {
            ctx.note(&format!("command terminated with exit code {code}"));
            Err(CliError::Exit(code))
        }
        End::Cancelled => Err(CliError::Message("the exec session was cancelled".into())),
        End::Error(why) => Err(CliError::Message(format!("exec session failed: {why}"))),
    }
}

/// An exec session's metadata, for `audit sessions` and `audit replay`.
pub(crate) fn session_line(v: &api::ExecSession) -> [String; 7] {
    let exit = match (v.exit_code, &v.end) {
        (Some(code), _) => code.to_string(),
        (None, None) => "running".into(),
        (None, Some(end)) => end.clone(),
    };
    [
        v.id.clone(),
        when(&v.started_at),
        v.principal.clone(),
        format!("{}/{}", v.namespace, v.pod),
        v.container.clone(),
        v.command.as_deref().unwrap_or_default().join(" "),
        exit,
    ]
}

/// One frame of a recording, as the API writes it: `[ms since the start, "i" | "o" | "e",
/// base64 bytes]`.
#[derive(serde::Deserialize)]
struct Frame(i64, String, String);

/// Writes a recording's output frames (and input, if asked) at their pace: `(speed, max idle
/// seconds)`, or at once.
pub(crate) async fn replay(
    ctx: &mut Ctx<'_, '_>,
    v: &api::ExecSessionReplay,
    pace: Option<(f64, f64)>,
    show_input: bool,
) -> Result<()> {
    let mut last_ms = 0i64;
    for (i, f) in v.frames.iter().enumerate() {
        let Frame(at, kind, data) = serde_json::from_value(f.clone())
            .map_err(|e| CliError::Message(format!("frame {i} of the recording: {e}")))?;
        let bytes = B64.decode(&data).map_err(|e| CliError::Message(format!("frame {i} of the recording: {e}")))?;
        if kind == "i" && !show_input {
            continue;
        }
        if let Some((speed, max_idle)) = pace {
            let gap = ((at - last_ms).max(0) as f64 / 1000.0 / speed).min(max_idle);
            if gap > 0.0 {
                tokio::time::sleep(std::time::Duration::from_secs_f64(gap)).await;
            }
        }
        last_ms = at;
        let out = &mut *ctx.io.out;
        let _ = match kind.as_str() {
            "i" => write!(out, "⟨{}⟩", String::from_utf8_lossy(&bytes).escape_debug()),
            _ => out.write_all(&bytes),
        };
        let _ = out.flush();
    }
    let [id, started, who, pod, container, cmd, exit] = session_line(&v.session);
    let kept = if v.session.truncated {
        format!("; the recording keeps the first {} of {} bytes", v.session.recorded_bytes, v.session.total_bytes)
    } else {
        String::new()
    };
    ctx.note(&format!("\n--- session {id}: {who} ran `{cmd}` in {pod} ({container}) at {started}; exit {exit}{kept}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends() {
        assert!(matches!(parse_end("exit: 0"), End::Exit(0)));
        assert!(matches!(parse_end("exit: 130"), End::Exit(130)));
        assert!(matches!(parse_end("cancelled"), End::Cancelled));
        assert!(matches!(parse_end("error: runner lost"), End::Error(m) if m == "runner lost"));
    }
}
