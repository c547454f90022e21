//! What the soak saw, in rows of a fixed length: op latencies (from the moment each op was due,
//! so a stall counts against every op it delayed), exec keystroke round trips, errors with the
//! time they happened, and each process's RSS when the row closed.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use cloudops_loadtest::Stats;

#[derive(Default)]
pub struct Row {
    pub ops: Vec<Duration>,
    pub keystrokes: Vec<Duration>,
    pub errors: usize,
    /// Ops not sent because too many were still in flight (the path fell behind).
    pub shed: usize,
    pub log_lines: usize,
    /// (process, RSS bytes), sampled when the row closed.
    pub rss: Vec<(String, u64)>,
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
            Ok(()) => self.with_row(due, |r| r.ops.push(due.elapsed())),
            Err(e) => self.error(Instant::now(), "op", e),
        }
    }

    pub fn keystroke(&self, sent: Instant) {
        self.with_row(sent, |r| r.keystrokes.push(sent.elapsed()));
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

    pub fn rss(&self, at: Instant, samples: Vec<(String, u64)>) {
        self.with_row(at, |r| r.rss = samples);
    }

    /// The rows in order (index, row), and every error; the recorder is left empty.
    pub fn take(&self) -> (Vec<(u64, Row)>, Vec<Seen>) {
        let mut inner = self.inner.lock().expect("recorder");
        (std::mem::take(&mut inner.rows).into_iter().collect(), std::mem::take(&mut inner.errors))
    }
}

/// p50 and p99 of `samples` in ms, or dashes when there are none.
pub fn percentiles(samples: &[Duration]) -> (String, String) {
    if samples.is_empty() {
        return ("-".into(), "-".into());
    }
    let s = Stats { name: "", samples: samples.to_vec() };
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    (ms(s.p50()), ms(s.p99()))
}
