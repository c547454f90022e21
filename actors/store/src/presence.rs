//! A runner's `last seen`: how often it is written, and how old it may be for the runner to
//! count as connected. Both sides of one contract (the router writes, the admin API reads).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The most often one runner's `last seen` is written: at the first heartbeat after this long,
/// whatever the runner sends, so that heartbeats cannot become write load.
pub const LAST_SEEN_WRITE_INTERVAL: Duration = Duration::from_secs(30);

/// Runners beat every 10 s (`planton-runner`'s default).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);

/// A `last seen` younger than this means connected. A live runner's is at most one write
/// interval plus one heartbeat old (40 s); heartbeats are fire-and-forget, so two may be lost
/// as well, as the router allows (its presence window is three beats and a margin): 65 s. (It
/// was 30 s, shorter than the write interval: a live runner read "offline" for up to 10 s of
/// every 40, and the console's browser test caught it.)
pub const LAST_SEEN_FRESH: Duration =
    Duration::from_secs(LAST_SEEN_WRITE_INTERVAL.as_secs() + 3 * HEARTBEAT_INTERVAL.as_secs() + 5);

/// Whether a runner last seen at `last_seen` counts as connected at `now`.
pub fn connected(last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_seen.is_some_and(|t| (now - t).to_std().unwrap_or_default() < LAST_SEEN_FRESH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_runner_is_connected_between_two_writes() {
        let now = Utc::now();
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        // The oldest a live runner's last seen gets: a write interval, then the next beat.
        let oldest = (LAST_SEEN_WRITE_INTERVAL + HEARTBEAT_INTERVAL).as_secs() as i64;
        assert!(connected(ago(oldest), now));
        assert!(connected(ago(0), now));
        // A clock a little ahead in the database is not "older".
        assert!(connected(ago(-2), now));
        // Two beats lost on the way as well.
        assert!(connected(ago(oldest + 20), now));
        assert!(!connected(ago(66), now));
        assert!(!connected(None, now));
    }
}
