//! A queue of requests that someone else times out: the newest is served first, and requests
//! older than the asker's wait are dropped unserved.
//!
//! The hub waits a few seconds for each auth-callout answer, then refuses the connection and
//! throws a late answer away; the client dials again and the hub asks again. Served oldest
//! first, a backlog (a reconnect storm: every runner at once after a hub restart) makes every
//! answer late, each retry adds to the backlog, and the callout burns its CPU on answers nobody
//! reads: a livelock that outlives the storm. Served newest first, the answers that can still
//! arrive in time are the ones given, and what the asker has given up on costs nothing.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

pub struct NewestFirst<T> {
    items: Mutex<VecDeque<(Instant, T)>>,
    ready: Notify,
    max_age: Duration,
    dropped: AtomicU64,
}

impl<T> NewestFirst<T> {
    /// Items older than `max_age` when a taker comes are dropped.
    pub fn new(max_age: Duration) -> Self {
        Self { items: Mutex::new(VecDeque::new()), ready: Notify::new(), max_age, dropped: AtomicU64::new(0) }
    }

    /// Queues `item`, received now; drops what is already too old to serve.
    pub fn push(&self, item: T) {
        let now = Instant::now();
        let mut items = self.items.lock().expect("queue lock");
        self.drop_stale(&mut items, now);
        items.push_back((now, item));
        drop(items);
        self.ready.notify_one();
    }

    /// The newest item still young enough to serve, waiting for one if there is none.
    pub async fn pop(&self) -> T {
        loop {
            if let Some(item) = self.try_pop() {
                return item;
            }
            // A push between try_pop and here leaves a permit, so this wakes at once.
            self.ready.notified().await;
        }
    }

    fn try_pop(&self) -> Option<T> {
        let mut items = self.items.lock().expect("queue lock");
        self.drop_stale(&mut items, Instant::now());
        let item = items.pop_back().map(|(_, item)| item);
        if !items.is_empty() {
            // More waiting: wake another taker too.
            self.ready.notify_one();
        }
        item
    }

    /// Items arrive in time order, so the stale ones are at the front.
    fn drop_stale(&self, items: &mut VecDeque<(Instant, T)>, now: Instant) {
        let fresh = items.iter().position(|(at, _)| now.duration_since(*at) <= self.max_age).unwrap_or(items.len());
        if fresh > 0 {
            items.drain(..fresh);
            self.dropped.fetch_add(fresh as u64, Ordering::Relaxed);
        }
    }

    /// How many items were dropped unserved since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.lock().expect("queue lock").len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_newest_is_served_first_and_the_stale_never() {
        let q = NewestFirst::new(Duration::from_secs(2));
        q.push(1);
        tokio::time::advance(Duration::from_secs(1)).await;
        q.push(2);
        q.push(3);
        assert_eq!(q.pop().await, 3);
        tokio::time::advance(Duration::from_millis(1500)).await;
        // 1 is 2.5 s old: dropped; 2 is 1.5 s old: served.
        assert_eq!(q.pop().await, 2);
        assert_eq!(q.take_dropped(), 1);
        assert_eq!(q.take_dropped(), 0, "counted once");
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_items_do_not_pile_up_while_no_one_takes() {
        let q = NewestFirst::new(Duration::from_secs(2));
        for i in 0..1000 {
            q.push(i);
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        // Only what arrived within the last 2 s is kept.
        assert!(q.len() <= 201, "{} kept", q.len());
        assert_eq!(q.take_dropped() as usize + q.len(), 1000);
    }

    #[tokio::test]
    async fn a_waiting_taker_wakes_for_a_push_and_every_item_reaches_a_taker() {
        let q = Arc::new(NewestFirst::new(Duration::from_secs(60)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 {
            let (q, tx) = (q.clone(), tx.clone());
            tokio::spawn(async move {
                loop {
                    let item = q.pop().await;
                    tokio::task::yield_now().await;
                    if tx.send(item).is_err() {
                        return;
                    }
                }
            });
        }
        for i in 0..100 {
            q.push(i);
        }
        let mut got = Vec::new();
        while got.len() < 100 {
            got.push(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap());
        }
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }
}
