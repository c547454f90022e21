//! The runner's end of the Kubernetes API proxy: a request as a stock client sent it, checked
//! against the scope this runner was given (the same parser as the gateway's, so the two cannot
//! read a path differently), and sent to the API server with the runner's own credentials.

use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::BodyExt;

use super::{KubeExecutor, err, owned};
use cloudops_schemas::{
    kube_api,
    v1::{self, ErrorCode},
};

/// The most one reply carries (the hub's max_payload is 8 MB); larger lists are asked for in
/// pages, as kubectl does by default (`--chunk-size`).
pub const MAX_RESPONSE_BODY: usize = 7 << 20;

/// The API server's answer: whole, or its status now and its body as a stream.
pub enum Proxied {
    Whole(v1::HttpResult),
    Streaming(v1::HttpResult, std::pin::Pin<Box<dyn Stream<Item = Result<bytes::Bytes, String>> + Send>>),
}

impl KubeExecutor {
    pub async fn http(&self, req: &v1::RunnerRequest, op: &v1::KubeHttp) -> Result<Proxied, v1::Error> {
        let scope = kube_api::scope(&op.method, &op.path, &op.query)
            .map_err(|e| err(ErrorCode::InvalidArgument, e.to_string()))?;
        // The gateway decided already; this is the second line, on what was actually sent.
        if req.namespace_locked
            && let Some(why) = kube_api::outside_namespace(&scope, &req.namespace)
        {
            return Err(err(ErrorCode::PermissionDenied, why));
        }
        if !scope.resource_request && !kube_api::is_discovery(&scope, &op.query) {
            return Err(err(ErrorCode::PermissionDenied, format!("{} is not carried by the proxy", scope.path)));
        }
        if kube_api::reads_secrets(&scope) && !req.secrets_readable {
            return Err(err(ErrorCode::PermissionDenied, "reading Secrets needs the operator role"));
        }
        if kube_api::CONNECT_SUBRESOURCES.contains(&scope.subresource.as_str()) {
            return Err(err(ErrorCode::InvalidArgument, format!("{} is not carried by this op", scope.subresource)));
        }
        let streaming = kube_api::streams(&scope, &op.query);
        if streaming && !cloudops_bus::streams::valid_session_id(&op.session) {
            return Err(err(ErrorCode::InvalidArgument, "a streaming request needs a session"));
        }
        let (context, client) = self.client_for(req).await?;
        // Developer mode on a workload: its own pods only.
        let mut owner = None;
        if owned::applies(req, &scope) {
            let ns = if scope.namespace.is_empty() { "default" } else { scope.namespace.as_str() };
            let mut filter = self.owner_filter(&context, &client, req, ns).await?;
            self.check_owned(&client, req, &scope, &op.body, &mut filter).await?;
            owner = Some(filter).filter(|_| matches!(scope.verb.as_str(), "list" | "watch"));
        }
        let (accept, query) = match owner {
            Some(_) => (owned::json_only(&op.accept), owned::unpaged(&op.query)),
            None => (op.accept.clone(), op.query.clone()),
        };
        let uri = if query.is_empty() { op.path.clone() } else { format!("{}?{query}", op.path) };
        let method = http::Method::from_bytes(op.method.as_bytes())
            .map_err(|_| err(ErrorCode::InvalidArgument, format!("method {:?}", op.method)))?;
        let mut b = http::Request::builder().method(method).uri(uri);
        if !accept.is_empty() {
            b = b.header(http::header::ACCEPT, &accept);
        }
        if !op.content_type.is_empty() {
            b = b.header(http::header::CONTENT_TYPE, &op.content_type);
        }
        let request = b
            .body(kube::client::Body::from(op.body.clone()))
            .map_err(|e| err(ErrorCode::InvalidArgument, format!("request: {e}")))?;
        let response =
            client.send(request).await.map_err(|e| err(ErrorCode::Unavailable, format!("kubernetes API: {e}")))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.into_body().into_data_stream();
        if streaming && status.is_success() {
            let head =
                v1::HttpResult { status: status.as_u16() as u32, content_type, body: Vec::new(), streaming: true };
            let chunks = body.map_err(|e| format!("error: {e}"));
            return Ok(match owner {
                Some(filter) => Proxied::Streaming(head, Box::pin(owned::filter_watch(client, filter, chunks))),
                None => Proxied::Streaming(head, Box::pin(chunks)),
            });
        }
        let mut whole = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| err(ErrorCode::Unavailable, format!("kubernetes API: {e}")))?;
            if whole.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(err(
                    ErrorCode::Upstream,
                    format!(
                        "the API server's response is larger than {} MiB, the most one reply carries; ask for it in pages (kubectl --chunk-size, or limit=)",
                        MAX_RESPONSE_BODY >> 20
                    ),
                ));
            }
            whole.extend_from_slice(&chunk);
        }
        if let Some(mut filter) = owner.filter(|_| status.is_success()) {
            whole = owned::filter_list(&client, &mut filter, &whole).await?;
        }
        Ok(Proxied::Whole(v1::HttpResult {
            status: status.as_u16() as u32,
            content_type,
            body: whole,
            streaming: false,
        }))
    }
}
