//! The runner's end of a tunnel through the Kubernetes API proxy (`kubectl port-forward`,
//! `attach`): a WebSocket to the API server with the subprotocol the client offered, relayed
//! message by message. What flows inside (SPDY framing tunnelled by kubectl 1.31+, or the
//! `portforward.k8s.io` channels of client libraries) is the API server's business: the
//! runner checks the request as it checks every proxied one, then carries bytes.

use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, handshake::client::generate_key, protocol::Role},
};

use super::{KubeExecutor, err, owned};
use cloudops_schemas::{
    kube_api,
    v1::{self, ErrorCode},
};

pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The subresources a tunnel carries (exec has its own, recorded, path).
const TUNNELLED: [&str; 2] = ["portforward", "attach"];

/// The most of the API server's refusal that is passed back.
const MAX_REFUSAL: usize = 64 << 10;

/// An open tunnel: the socket and the subprotocol the API server chose.
pub struct Tunnel {
    pub socket: Socket,
    pub protocol: String,
}

impl KubeExecutor {
    pub async fn open_tunnel(&self, req: &v1::RunnerRequest, op: &v1::KubeTunnel) -> Result<Tunnel, v1::Error> {
        let scope =
            kube_api::scope("GET", &op.path, &op.query).map_err(|e| err(ErrorCode::InvalidArgument, e.to_string()))?;
        if !(scope.api_group.is_empty()
            && scope.resource == "pods"
            && !scope.name.is_empty()
            && TUNNELLED.contains(&scope.subresource.as_str()))
        {
            return Err(err(ErrorCode::InvalidArgument, format!("{} is not a pod's port-forward or attach", op.path)));
        }
        if req.namespace_locked
            && let Some(why) = kube_api::outside_namespace(&scope, &req.namespace)
        {
            return Err(err(ErrorCode::PermissionDenied, why));
        }
        if op.protocols.is_empty() || op.protocols.iter().any(|p| p.is_empty() || !p.bytes().all(token_byte)) {
            return Err(err(ErrorCode::InvalidArgument, "a tunnel needs the client's WebSocket subprotocols"));
        }
        let (context, client) = self.client_for(req).await?;
        if owned::applies(req, &scope) {
            let mut filter = self.owner_filter(&context, &client, req, &scope.namespace).await?;
            self.check_owned(&client, req, &scope, &[], &mut filter).await?;
        }
        let key = generate_key();
        let uri = if op.query.is_empty() { op.path.clone() } else { format!("{}?{}", op.path, op.query) };
        let request = http::Request::get(uri)
            .header(http::header::CONNECTION, "Upgrade")
            .header(http::header::UPGRADE, "websocket")
            .header(http::header::SEC_WEBSOCKET_VERSION, "13")
            .header(http::header::SEC_WEBSOCKET_KEY, &key)
            .header(http::header::SEC_WEBSOCKET_PROTOCOL, op.protocols.join(", "))
            .body(kube::client::Body::empty())
            .map_err(|e| err(ErrorCode::InvalidArgument, format!("request: {e}")))?;
        let response =
            client.send(request).await.map_err(|e| err(ErrorCode::Unavailable, format!("kubernetes API: {e}")))?;
        let status = response.status();
        if status != http::StatusCode::SWITCHING_PROTOCOLS {
            let body =
                http_body_util::BodyExt::collect(http_body_util::Limited::new(response.into_body(), MAX_REFUSAL))
                    .await
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or(body);
            let code = match status.as_u16() {
                403 => ErrorCode::PermissionDenied,
                404 => ErrorCode::NotFound,
                400 | 422 => ErrorCode::InvalidArgument,
                _ => ErrorCode::Upstream,
            };
            return Err(err(code, format!("the API server refused the {}: {status} {message}", scope.subresource)));
        }
        let protocol = response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .filter(|p| op.protocols.iter().any(|o| o == p))
            .map(String::from)
            .ok_or_else(|| err(ErrorCode::Upstream, "the API server chose no subprotocol the client offered"))?;
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| err(ErrorCode::Upstream, format!("the API server's upgrade: {e}")))?;
        let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
        Ok(Tunnel { socket, protocol })
    }
}

/// A byte of an HTTP token (what a subprotocol name is made of).
fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b)
}

/// One relay step's outcome.
pub enum Relayed {
    /// A message of the API server's, for the client.
    Out(bytes::Bytes),
    /// Nothing for the client (a ping answered, a pong).
    Nothing,
    /// The tunnel is over, and why.
    End(String),
}

/// Reads the API server's next message.
pub async fn next_out(socket: &mut Socket) -> Relayed {
    match socket.next().await {
        Some(Ok(Message::Binary(b))) => Relayed::Out(b),
        Some(Ok(Message::Text(t))) => Relayed::Out(bytes::Bytes::copy_from_slice(t.as_bytes())),
        Some(Ok(Message::Close(_))) | None => Relayed::End("eof".into()),
        Some(Ok(_)) => Relayed::Nothing,
        Some(Err(e)) => Relayed::End(format!("error: the API server's tunnel: {e}")),
    }
}

/// Sends the client's message to the API server.
pub async fn send_in(socket: &mut Socket, data: bytes::Bytes) -> Result<(), String> {
    socket.send(Message::Binary(data)).await.map_err(|e| format!("error: the API server's tunnel: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn subprotocols_are_tokens() {
        for p in ["SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io", "portforward.k8s.io"] {
            assert!(p.bytes().all(super::token_byte), "{p}");
        }
        assert!(!"a, b".bytes().all(super::token_byte));
        assert!(!"a\r\nX-Injected: 1".bytes().all(super::token_byte));
    }
}
