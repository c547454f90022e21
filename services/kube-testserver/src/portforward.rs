//! Port-forward, as the kubelet serves it over WebSocket (`v4.channel.k8s.io`, or its newer
//! name `portforward.k8s.io`): `…/pods/NAME/portforward?ports=8080,9090`. Port number i has
//! two channels, data `2i` and error `2i+1`; each starts with the port, two bytes little
//! endian; then every binary message is a channel byte and bytes.
//!
//! kubectl 1.31+ asks for `SPDY/3.1+portforward.k8s.io` instead: `portforward_spdy`.
//!
//! The "pod" is this machine: its port P is 127.0.0.1:P, so a test serves something there and
//! forwards to it.

use axum::{
    extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    http::{StatusCode, Uri},
    response::Response,
};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};

use crate::{Cluster, status_error, wire::query_pairs};

pub const PROTOCOLS: [&str; 3] = ["v4.channel.k8s.io", "portforward.k8s.io", crate::portforward_spdy::PROTOCOL];

fn ports(uri: &Uri) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for (_, v) in query_pairs(uri).filter(|(k, _)| k == "ports") {
        for p in v.split(',').filter(|p| !p.is_empty()) {
            out.push(p.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or(format!("invalid port {p:?}"))?);
        }
    }
    if out.is_empty() {
        return Err("at least one port must be specified (ports=…)".into());
    }
    Ok(out)
}

pub(crate) async fn serve(
    cluster: Cluster,
    ns: String,
    name: String,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let bad = |m: String| status_error(StatusCode::BAD_REQUEST, "BadRequest", m, None);
    if cluster.get(crate::resources::find("", "v1", "pods").expect("pods"), &ns, &name).is_none() {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods \"{name}\" not found"),
            Some(json!({"name": name, "kind": "pods"})),
        );
    }
    let Ok(ws) = ws else {
        return match ports(&uri) {
            Err(e) => bad(e),
            Ok(_) => bad("Upgrade request required: port-forward needs a websocket (v4.channel.k8s.io)".into()),
        };
    };
    let ws = ws.protocols(PROTOCOLS);
    if ws.selected_protocol().is_some_and(|p| p == crate::portforward_spdy::PROTOCOL) {
        // SPDY names the port per stream; the query has none.
        return ws.on_upgrade(move |socket| crate::portforward_spdy::run(socket, name));
    }
    let ports = match ports(&uri) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    ws.on_upgrade(move |socket| run(socket, ports, name))
}

async fn run(socket: WebSocket, ports: Vec<u16>, pod: String) {
    let (mut tx, mut rx) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut writers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = (2 * i as u8, 2 * i as u8 + 1);
        for ch in [data, error] {
            let [lo, hi] = port.to_le_bytes();
            if tx.send(Message::Binary(vec![ch, lo, hi].into())).await.is_err() {
                return;
            }
        }
        match TcpStream::connect(("127.0.0.1", *port)).await {
            Ok(conn) => {
                let (mut read, write) = conn.into_split();
                writers.push(Some(write));
                let out = out_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = read.read(&mut buf).await {
                        if n == 0 || out.send([&[data][..], &buf[..n]].concat()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                writers.push(None);
                let msg = format!("error forwarding port {port} to pod {pod}: {e}");
                let _ = tx.send(Message::Binary([&[error][..], msg.as_bytes()].concat().into())).await;
            }
        }
    }
    drop(out_tx);
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(frame) => if tx.send(Message::Binary(frame.into())).await.is_err() { break },
                None => break,
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(frame))) => {
                    let Some((&ch, data)) = frame.split_first() else { continue };
                    let Some(Some(w)) = writers.get_mut(usize::from(ch / 2)).filter(|_| ch % 2 == 0) else { continue };
                    if w.write_all(data).await.is_err() {
                        writers[usize::from(ch / 2)] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = tx.close().await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_read_as_the_kubelet_reads_them() {
        let uri = |q: &str| format!("/x?{q}").parse().unwrap();
        assert_eq!(super::ports(&uri("ports=8080,9090")).unwrap(), [8080, 9090]);
        assert_eq!(super::ports(&uri("ports=80&ports=81")).unwrap(), [80, 81]);
        assert!(super::ports(&uri("ports=0")).is_err());
        assert!(super::ports(&uri("")).is_err());
    }
}
