//! A client with a reconnection schedule dials its first connection at once: async-nats asks for
//! a pause before every dial, the very first one included, and bench-scale's simulated runners
//! (a runner's schedule: one second before the first redial) were admitted one second late
//! each, 63 a second with 64 in flight.

use std::time::Duration;

use cloudops_bus::{
    connect::{ConnectSpec, connect},
    natsd::{self, NatsServer},
};

fn an_hour(_attempt: usize) -> Duration {
    Duration::from_secs(3600)
}

#[tokio::test]
async fn the_first_connection_is_not_paused_by_the_reconnection_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let bin = natsd::locate().await.expect("nats-server >= 2.14 (CLOUDOPS_NATS_SERVER)");
    let (port, log, conf) = (natsd::free_port().unwrap(), dir.path().join("nats.log"), dir.path().join("nats.conf"));
    std::fs::write(&conf, format!("port: {port}\nhost: \"127.0.0.1\"\nlog_file: \"{}\"\n", log.display())).unwrap();
    let server = NatsServer::start(&bin, "connect-test", conf, port, log).await.expect("nats-server starts");
    let spec = ConnectSpec {
        url: server.client_url(false),
        name: "scheduled".into(),
        reconnect_delay: Some(an_hour),
        ..Default::default()
    };
    let client = tokio::time::timeout(Duration::from_secs(30), connect(&spec))
        .await
        .expect("the first dial waited for the reconnection schedule (an hour)")
        .expect("connected");
    client.flush().await.expect("the connection works");
    server.stop().await;
}
