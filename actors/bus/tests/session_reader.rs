//! A session's reader makes its consumer again when it is lost, from the message after the last
//! one it delivered: nothing lost, nothing repeated, and at once rather than on async-nats's
//! back-off. (A hub node's death is `services/sandbox/tests/ha.rs`; here the consumer is
//! deleted under the reader, on one real nats-server.)

use std::time::{Duration, Instant};

use cloudops_bus::{
    natsd::{self, NatsServer},
    streams::{self, StreamLimits},
};
use cloudops_schemas::RunnerId;
use futures::StreamExt;

/// One nats-server with JetStream, as the hub's (8 MB messages), in `dir`.
async fn server(dir: &std::path::Path) -> NatsServer {
    let bin = natsd::locate().await.expect("nats-server >= 2.14 (CLOUDOPS_NATS_SERVER)");
    let (port, log, conf) = (natsd::free_port().unwrap(), dir.join("nats.log"), dir.join("nats.conf"));
    let store = dir.join("js");
    std::fs::write(
        &conf,
        format!(
            "port: {port}\nhost: \"127.0.0.1\"\nmax_payload: 8MB\nlog_file: \"{}\"\njetstream {{ store_dir: \"{}\" }}\n",
            log.display(),
            store.display()
        ),
    )
    .unwrap();
    NatsServer::start(&bin, "reader-test", conf, port, log).await.expect("nats-server starts")
}

#[tokio::test]
async fn a_lost_reader_is_made_again_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let nc = async_nats::connect(server.client_url(false)).await.unwrap();
    let runner = RunnerId::parse("reader-test").unwrap();
    let limits = StreamLimits { max_age: Duration::from_secs(600), max_bytes: 1 << 20, replicas: 1 };
    streams::ensure_runner_stream(&nc, &runner, limits).await.unwrap();
    let js = async_nats::jetstream::new(nc.clone());
    let subject = streams::session_subject(&runner, "s1");
    let publish = |n: u32| {
        let (js, subject) = (js.clone(), subject.clone());
        async move { js.publish(subject, format!("line {n}").into()).await.unwrap().await.unwrap() }
    };
    for n in 1..=3 {
        publish(n).await;
    }

    let mut reader = streams::read_session(&nc, &runner, "s1", 0).await.unwrap();
    let mut next = async || {
        let m = tokio::time::timeout(Duration::from_secs(10), reader.next()).await.expect("a message within 10 s");
        let m = m.expect("the read goes on").expect("no error");
        (m.seq, String::from_utf8(m.payload.to_vec()).unwrap())
    };
    for n in 1..=2 {
        assert_eq!(next().await, (n, format!("line {n}")));
    }

    // Every consumer of the stream deleted under the reader (as when its node dies).
    let stream = js.get_stream(streams::runner_stream(&runner)).await.unwrap();
    let names: Vec<String> = stream.consumer_names().map(|n| n.unwrap()).collect().await;
    assert_eq!(names.len(), 1, "one consumer: the reader's");
    stream.delete_consumer(&names[0]).await.unwrap();
    for n in 4..=5 {
        publish(n).await;
    }
    let lost = Instant::now();
    // The third line was delivered to the old consumer's pull, or is read again from its
    // sequence: either way once, then what came after.
    for n in 3..=5 {
        assert_eq!(next().await, (n, format!("line {n}")), "in order, none lost or repeated");
    }
    let back = lost.elapsed();
    println!("reader made again and read 3 lines {:.0} ms after its consumer was deleted", back.as_secs_f64() * 1e3);
    assert!(back < Duration::from_secs(5), "the reader came back after {back:?}");

    // Its new consumer is the only one; dropping the reader deletes it.
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = stream.consumer_names().map(|n| n.unwrap()).collect().await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "a dropped reader's consumer was not deleted: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// A pull asks for at most 16 MiB: messages near the hub's 8 MB limit still arrive, each once and
/// in order, over pulls that end when the next one would not fit.
#[tokio::test]
async fn large_messages_arrive_over_pulls_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let nc = async_nats::connect(server.client_url(false)).await.unwrap();
    let runner = RunnerId::parse("reader-big").unwrap();
    let limits = StreamLimits { max_age: Duration::from_secs(600), max_bytes: 64 << 20, replicas: 1 };
    streams::ensure_runner_stream(&nc, &runner, limits).await.unwrap();
    let js = async_nats::jetstream::new(nc.clone());
    let subject = streams::session_subject(&runner, "s1");
    const SIZE: usize = 7 << 20;
    for n in 0..4u8 {
        js.publish(subject.clone(), vec![n; SIZE].into()).await.unwrap().await.unwrap();
    }
    let mut reader = streams::read_session(&nc, &runner, "s1", 0).await.unwrap();
    for n in 0..4u8 {
        let m = tokio::time::timeout(Duration::from_secs(10), reader.next()).await.expect("a message within 10 s");
        let m = m.expect("the read goes on").expect("no error");
        assert_eq!((m.seq, m.payload.len(), m.payload[0]), (u64::from(n) + 1, SIZE, n), "once and in order");
    }
    drop(reader);
    server.stop().await;
}
