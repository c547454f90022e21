//! The control plane's Prometheus endpoint (`cloudops serve --metrics-listen`): `GET /metrics`
//! on a listener of its own, off by default. It serves counts and gauges only (no principal,
//! org, connection, namespace or resource name is a label) and changes nothing, so it takes no
//! credentials: bind it on loopback, or where only the scraper reaches it.

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, http::header, response::IntoResponse, routing::get};
use cloudops_telemetry::metrics::{CONTENT_TYPE, ControlPlaneMetrics};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Binds `addr` now (a taken port is an error at start) and serves `/metrics`.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<ControlPlaneMetrics>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        warn!(addr = %bound, "metrics served beyond loopback: let only the scraper reach this port");
    }
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()).into_response() }
        }),
    );
    info!(addr = %bound, "serving /metrics");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, task))
}
