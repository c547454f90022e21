//! What the soak saw, in rows of a fixed length: op latencies (from the moment each op was due,
//! so a stall counts against every op it delayed), exec keystroke round trips, errors with the
//! time they happened, and each process's memory when the row closed.
//!
//! Latencies go to a histogram per row, not a list: the bench process's RSS is one of the figures
//! the soak reports, and a list of every op's latency grew it by ~30 bytes an op.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

#[derive(Default)]
pub struct Row {
    pub ops: Latencies,
    pub keystrokes: Latencies,
    pub errors: usize,
    /// Ops not sent because too many were still in flight (the path fell behind).
    pub shed: usize,
    pub log_lines: usize,
    /// Each process's memory, sampled when the row closed.
    pub memory: Vec<Memory>,
    /// Bytes the session streams hold (one copy), from the control plane's metrics.
    pub jetstream_bytes: Option<u64>,
}

/// One process's memory: its RSS, and what it holds live where that can be read.
pub struct Memory {
    pub process: String,
    pub rss: u64,
    /// The anonymous part of the RSS: what the process allocated, without its binary's pages.
    pub anon: Option<u64>,
    /// Bytes allocated and not freed (the bench process), or live after the last GC (Go).
    pub live: Option<u64>,
    /// Of `live`, what SQLite holds (its page caches, statements and schemas: the bench process).
    pub sqlite: Option<u64>,
    /// Its open file descriptors (sockets, most of them): connections kept open grow it.
    pub fds: Option<u64>,
}

/// Latencies in µs from 1 µs to 10 min, to 2 significant digits (~10 KiB however many).
pub struct Latencies(Histogram<u32>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds"))
    }
}

impl Latencies {
    fn record(&mut self, d: Duration) {
        self.0.saturating_record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One error: when (since the start), what kind of work, and what it said.
pub struct Seen {
    pub at: Duration,
    pub what: &'static str,
    pub error: String,
}

#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    row: Duration,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    rows: BTreeMap<u64, Row>,
    errors: Vec<Seen>,
}

impl Recorder {
    pub fn new(start: Instant, row: Duration) -> Self {
        Self { start, row, inner: Arc::default() }
    }

    pub fn since_start(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.start)
    }

    fn with_row(&self, t: Instant, f: impl FnOnce(&mut Row)) {
        let i = (self.since_start(t).as_nanos() / self.row.as_nanos()) as u64;
        f(self.inner.lock().expect("recorder").rows.entry(i).or_default());
    }

    /// An op due at `due` that finished now: its latency goes to the row it was due in, an
    /// error to the moment it was seen (an op in flight when a node dies fails after the kill).
    pub fn op(&self, due: Instant, result: anyhow::Result<()>) {
        match result {
            Ok(()) => self.with_row(due, |r| r.ops.record(due.elapsed())),
            Err(e) => self.error(Instant::now(), "op", e),
        }
    }

    pub fn keystroke(&self, sent: Instant) {
        self.with_row(sent, |r| r.keystrokes.record(sent.elapsed()));
    }

    pub fn shed(&self, due: Instant) {
        self.with_row(due, |r| r.shed += 1);
    }

    pub fn log_lines(&self, n: usize) {
        self.with_row(Instant::now(), |r| r.log_lines += n);
    }

    pub fn error(&self, at: Instant, what: &'static str, e: anyhow::Error) {
        self.with_row(at, |r| r.errors += 1);
        let seen = Seen { at: self.since_start(at), what, error: format!("{e:#}") };
        self.inner.lock().expect("recorder").errors.push(seen);
    }

    pub fn memory(&self, at: Instant, samples: Vec<Memory>) {
        self.with_row(at, |r| r.memory = samples);
    }

    pub fn jetstream_bytes(&self, at: Instant, bytes: Option<u64>) {
        self.with_row(at, |r| r.jetstream_bytes = bytes);
    }

    /// The rows in order (index, row), and every error; the recorder is left empty.
    pub fn take(&self) -> (Vec<(u64, Row)>, Vec<Seen>) {
        let mut inner = self.inner.lock().expect("recorder");
        (std::mem::take(&mut inner.rows).into_iter().collect(), std::mem::take(&mut inner.errors))
    }
}

/// p50 and p99 of `samples` in ms, or dashes when there are none.
pub fn percentiles(samples: &Latencies) -> (String, String) {
    if samples.is_empty() {
        return ("-".into(), "-".into());
    }
    let ms = |q: f64| format!("{:.1}", samples.0.value_at_quantile(q) as f64 / 1e3);
    (ms(0.5), ms(0.99))
}
