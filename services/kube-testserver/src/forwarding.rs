//! What port-forward tests need around the server: something to forward to, and stock
//! `kubectl port-forward` driven until it forwards.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

/// A TCP echo server on loopback: the test server forwards a pod's port P to 127.0.0.1:P, so
/// port-forward tests and benchmarks forward to this.
pub async fn echo_server() -> std::io::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Ok(port)
}

/// A running `kubectl port-forward` and the local port it listens on.
pub struct Forward {
    pub child: Child,
    pub local: u16,
}

/// Starts `kubectl port-forward …` (the command as given, with its environment) and waits for
/// its "Forwarding from 127.0.0.1:N" line. Panics with kubectl's output if none comes in 30 s.
pub async fn kubectl_port_forward(mut cmd: Command) -> Forward {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().expect("kubectl runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let local = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(rest) = l.strip_prefix("Forwarding from 127.0.0.1:") {
                return rest.split_whitespace().next().and_then(|p| p.parse::<u16>().ok());
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(local) = local else {
        let _ = child.kill().await;
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err).await;
        }
        panic!("kubectl port-forward did not start forwarding: {err}");
    };
    // kubectl prints "Handling connection for N" per connection; keep reading so it never blocks.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Forward { child, local }
}

/// Sends `bytes` through a forwarded local port to an echo server and returns what came back,
/// reading while writing (so nothing waits on a full buffer).
pub async fn echo_through(local: u16, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let conn = TcpStream::connect(("127.0.0.1", local)).await?;
    let (mut r, mut w) = conn.into_split();
    let want = bytes.len();
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; want];
        r.read_exact(&mut got).await.map(|_| got)
    });
    w.write_all(bytes).await?;
    tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .map_err(|_| std::io::Error::other(format!("{want} bytes did not all come back in 60 s")))?
        .map_err(std::io::Error::other)?
}
