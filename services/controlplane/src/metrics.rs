//! The gauges of the control plane's metrics that are asked for, not counted on the way
//! (runners connected, what JetStream holds): [`refresh`] asks every [`REFRESH_EVERY`], so a
//! scrape (`cloudops_gateway::metrics_endpoint`) never waits on the hub.

use std::{sync::Arc, time::Duration};

use cloudops_bus::{NatsClient, callout, js_usage};
use cloudops_telemetry::metrics::ControlPlaneMetrics;
use tracing::warn;

pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Keeps the gauges that are asked for, not counted, current: JetStream's streams, bytes,
/// messages and pending deliveries (the control plane's account), and the runners with a
/// tunnel up (through the hub's system account, when this replica works the hub's accounts).
pub async fn refresh(metrics: Arc<ControlPlaneMetrics>, nats: NatsClient, sys: Option<NatsClient>) {
    loop {
        match js_usage::usage(&nats).await {
            Ok(u) => {
                metrics.jetstream_streams.set(gauge(u.streams));
                metrics.jetstream_bytes.set(gauge(u.bytes));
                metrics.jetstream_messages.set(gauge(u.messages));
                metrics.jetstream_consumer_pending.set(gauge(u.consumer_pending));
            }
            Err(e) => warn!(error = %e, "JetStream usage not read for the metrics"),
        }
        if let Some(sys) = &sys {
            match callout::leaf_accounts(sys).await {
                Ok(accounts) => {
                    metrics.runners_connected.set(gauge(accounts.len() as u64));
                }
                Err(e) => warn!(error = %e, "the hub's servers not asked for runner tunnels"),
            }
        }
        tokio::time::sleep(REFRESH_EVERY).await;
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
