//! The runner's Kubernetes client: kube's own stack (TLS from the kubeconfig, connect/read/write
//! timeouts, retries of 5xx and 429, the credential layer, impersonation headers), on a
//! connection pool that lets idle connections go.
//!
//! `kube::Client::try_from(config)` builds its pool without a timer, so hyper never evicts an
//! idle connection, and keeps every one: the pool hands out the newest, so the older ones are
//! never looked at again. kube speaks HTTP/1.1 only, where each call in flight needs its own
//! connection, so a runner kept every connection its busiest moment opened, with its buffers,
//! for as long as it ran. Here idle connections close after [`IDLE`], and at most [`MAX_IDLE`]
//! wait per API server: enough that a busy runner reuses its connections rather than opening
//! (and handshaking) new ones for every call beyond them.

use std::time::Duration;

use hyper_util::{
    client::legacy::{Client as Pool, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use kube::{
    Client, Config,
    client::{Body, ClientBuilder, ConfigExt, retry::RetryPolicy},
};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer};

/// How long a connection may wait for its next call before it is closed.
pub const IDLE: Duration = Duration::from_secs(30);
/// How many idle connections to one API server are kept for the next calls.
pub const MAX_IDLE: usize = 128;

/// A client for `config`, as kube builds one but for the pool.
pub fn build(config: Config) -> Result<Client, kube::Error> {
    build_with(config, IDLE, MAX_IDLE)
}

fn build_with(config: Config, idle: Duration, max_idle: usize) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        // kube's own builder takes a proxy (or names the feature it lacks); its pool is kube's.
        return ClientBuilder::try_from(config).map(ClientBuilder::build);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool: Pool<_, Body> = Pool::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(idle)
        .pool_max_idle_per_host(max_idle)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| RetryLayer::new(RetryPolicy::server_retry())))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(pool);
    Ok(Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API server that counts the connections it accepted and how many are still open.
    async fn counting_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicUsize::new(0));
        let counter = open.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let open = counter.clone();
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        // Slow enough that concurrent calls need connections of their own.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from_static(br#"{"major":"1","minor":"30"}"#),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        (url, open)
    }

    #[tokio::test]
    async fn idle_connections_are_let_go() {
        use std::sync::atomic::Ordering::SeqCst;
        let (url, open) = counting_server().await;
        let (idle, max_idle) = (Duration::from_millis(500), 4);
        let client = build_with(Config::new(url.parse().unwrap()), idle, max_idle).unwrap();
        // 40 calls at once: a connection each.
        let call = || client.request::<serde_json::Value>(http::Request::get("/version").body(Vec::new()).unwrap());
        for r in futures::future::join_all((0..40).map(|_| call())).await {
            assert_eq!(r.unwrap()["major"], "1");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let kept = open.load(SeqCst);
        assert!(kept <= max_idle, "{kept} connections kept idle (at most {max_idle})");
        // With nothing to do for longer than `idle`, none.
        tokio::time::sleep(idle * 3).await;
        assert_eq!(open.load(SeqCst), 0, "idle connections were not closed");
        // And the client still works.
        assert_eq!(call().await.unwrap()["minor"], "30");
    }
}
