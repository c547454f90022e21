//! Port-forward as kubectl 1.31+ asks for it: a SPDY session tunnelled in WebSocket binary
//! messages (`SPDY/3.1+portforward.k8s.io`), served as the kubelet serves SPDY port-forward.
//! For each local connection kubectl opens two streams with the same `requestID` and `port`
//! headers: `streamType: error` (which it half-closes at once) and `streamType: data`. When both
//! are there, the server connects to the port and copies bytes; a failure is written on the error
//! stream; the end of either side closes the data stream's half.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, tcp::OwnedWriteHalf},
    sync::mpsc,
};

/// What the session hands a stream's writer: bytes, or `None` for the client's end (FIN).
type Writer = mpsc::UnboundedSender<Option<Vec<u8>>>;

/// Writes a stream's bytes to its port on a task of its own, so that a port that reads slowly
/// holds up neither the other streams nor the replies (the kubelet copies each stream apart).
fn writer(mut w: OwnedWriteHalf) -> Writer {
    let (tx, mut rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
    tokio::spawn(async move {
        while let Some(Some(data)) = rx.recv().await {
            if w.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    tx
}

use crate::spdy::{self, Frame, Session};

pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    port: Option<u16>,
    data: Option<u32>,
    error: Option<u32>,
}

pub(crate) async fn run(socket: WebSocket, pod: String) {
    let (mut tx, mut rx) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut session = Session::default();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut writers: HashMap<u32, Writer> = HashMap::new();
    loop {
        let input = tokio::select! {
            out = out_rx.recv() => {
                let Some(frame) = out else { break };
                if tx.send(Message::Binary(frame.into())).await.is_err() {
                    break;
                }
                continue;
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
        };
        session.push(&input);
        loop {
            let frame = match session.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("port-forward to {pod}: {e}");
                    let _ = tx.close().await;
                    return;
                }
            };
            let reply = match frame {
                Frame::SynStream { id, headers, .. } => {
                    let reply = session.syn_reply(id);
                    if tx.send(Message::Binary(reply.into())).await.is_err() {
                        return;
                    }
                    opened(id, &headers, &mut pairs, &pod, &out_tx, &mut writers).await
                }
                Frame::Data { id, fin, data } => {
                    if let Some(w) = writers.get(&id) {
                        let failed = !data.is_empty() && w.send(Some(data)).is_err();
                        if fin || failed {
                            let _ = w.send(None);
                            writers.remove(&id);
                        }
                    }
                    None
                }
                Frame::Reset { id } => {
                    writers.remove(&id);
                    None
                }
                Frame::Ping(id) => Some(spdy::ping(id)),
                Frame::GoAway => {
                    let _ = tx.close().await;
                    return;
                }
                Frame::Ignored => None,
            };
            if let Some(bytes) = reply
                && tx.send(Message::Binary(bytes.into())).await.is_err()
            {
                return;
            }
        }
    }
    let _ = tx.close().await;
}

/// A stream opened by kubectl: once both of a pair are there, the port is dialled. Returns a frame
/// to send at once, if any (a refusal of a stream this server cannot place).
async fn opened(
    id: u32,
    headers: &[(String, String)],
    pairs: &mut HashMap<String, Pair>,
    pod: &str,
    out: &mpsc::Sender<Vec<u8>>,
    writers: &mut HashMap<u32, Writer>,
) -> Option<Vec<u8>> {
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let request = header("requestid").unwrap_or_default().to_string();
    let pair = pairs.entry(request.clone()).or_default();
    match header("streamtype") {
        Some("data") => pair.data = Some(id),
        Some("error") => pair.error = Some(id),
        _ => return Some(spdy::reset(id, spdy::REFUSED_STREAM)),
    }
    pair.port = pair.port.or(header("port").and_then(|p| p.parse().ok()));
    let (Some(data), Some(error)) = (pair.data, pair.error) else { return None };
    let port = pair.port;
    pairs.remove(&request);
    // Sent from a task of its own: this one drains `out`, so it must never wait on it.
    let fail = |msg: String| {
        let out = out.clone();
        tokio::spawn(async move {
            let _ = out.send(spdy::data(error, msg.as_bytes(), true)).await;
            let _ = out.send(spdy::data(data, &[], true)).await;
        });
    };
    let Some(port) = port.filter(|p| *p > 0) else {
        fail("invalid or missing port header".into());
        return None;
    };
    match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(conn) => {
            let (mut read, write) = conn.into_split();
            writers.insert(data, writer(write));
            let out = out.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n) = read.read(&mut buf).await {
                    if n == 0 || out.send(spdy::data(data, &buf[..n], false)).await.is_err() {
                        break;
                    }
                }
                let _ = out.send(spdy::data(data, &[], true)).await;
                let _ = out.send(spdy::data(error, &[], true)).await;
            });
        }
        Err(e) => fail(format!("error forwarding port {port} to pod {pod}: {e}")),
    }
    None
}
