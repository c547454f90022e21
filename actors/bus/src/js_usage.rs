//! What JetStream holds for the control plane's account, for its metrics: streams, bytes,
//! messages, and what session readers have not fetched yet.

use async_nats::{Client, jetstream};
use futures::TryStreamExt;

use crate::BusError;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub streams: u64,
    pub bytes: u64,
    pub messages: u64,
    /// Messages not yet delivered to a consumer, summed over every consumer of every stream.
    pub consumer_pending: u64,
}

/// Lists every stream of the account (paged by the server), and the consumers of those that
/// have any: one request per page and per stream being read, so cheap while few sessions are
/// open and bounded by them otherwise.
pub async fn usage(nc: &Client) -> Result<Usage, BusError> {
    let js = jetstream::new(nc.clone());
    let infos: Vec<jetstream::stream::Info> = js.streams().try_collect().await.map_err(BusError::transport)?;
    let mut u = Usage::default();
    for info in infos {
        u.streams += 1;
        u.bytes += info.state.bytes;
        u.messages += info.state.messages;
        if info.state.consumer_count == 0 {
            continue;
        }
        // A stream deleted since the listing has no consumers left to count.
        let Ok(stream) = js.get_stream(&info.config.name).await else { continue };
        let consumers: Vec<_> = stream.consumers().try_collect().await.unwrap_or_default();
        u.consumer_pending += consumers.iter().map(|c| c.num_pending).sum::<u64>();
    }
    Ok(u)
}
