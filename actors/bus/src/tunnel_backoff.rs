//! How long a runner's leaf may keep dialling a hub that does not take its tunnel.
//!
//! A leaf node dials its hub again one second after a refusal, for ever, with no jitter
//! (nats-server jitters only a dial that fails; its `reconnect` cannot be reloaded). When a hub
//! node comes back from a crash, every runner that was on it dials it at once, every second:
//! at 10,000 runners each attempt's TLS handshake and JWT check take the hub's CPU, attempts
//! time out, and the storm does not drain (loadtest/RESULTS.md, bench-scale). A runner whose
//! credentials were revoked would dial every second for ever too.
//!
//! So once the tunnel has been down for [`TunnelBackoff::grace`] (a node's failover takes
//! 1-3 s and is left to the leaf), the runner stops its leaf's dialling for a pause, lets it dial
//! again for [`TunnelBackoff::dialling`], and so on until the tunnel is up. The pauses double
//! from [`TunnelBackoff::first_pause`] to [`TunnelBackoff::max_pause`], each between half and
//! all of its bound (equal jitter), so runners that lost the same node spread out. The runner
//! applies it to its leaf (`services/runner/src/tunnel.rs`); `bench-scale`'s simulated runners
//! follow the same schedule ([`TunnelBackoff::delay_before_attempt`]).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelBackoff {
    /// Down this long before the first pause: the leaf's own retries cover a failover.
    pub grace: Duration,
    /// After a pause, how long the leaf dials (at once, then every second) before the next.
    pub dialling: Duration,
    /// The first pause's bound; it doubles each round, up to `max_pause`.
    pub first_pause: Duration,
    pub max_pause: Duration,
}

impl TunnelBackoff {
    pub const DEFAULT: Self = Self {
        grace: Duration::from_secs(10),
        dialling: Duration::from_secs(2),
        first_pause: Duration::from_secs(4),
        max_pause: Duration::from_secs(60),
    };

    /// The pause of round `round` (0 first), `jitter` in [0, 1): between half and all of its
    /// bound.
    pub fn pause(&self, round: u32, jitter: f64) -> Duration {
        let bound = self.first_pause.saturating_mul(1 << round.min(16)).min(self.max_pause);
        bound.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// The same schedule per attempt, for a client that counts its failed attempts (async-nats's
    /// reconnect callback, 1 for the first): a leaf dials one second after losing its hub and
    /// every second through `grace`; then each round is a pause, an attempt, and one each second
    /// of `dialling`.
    pub fn delay_before_attempt(&self, attempt: usize, jitter: f64) -> Duration {
        let second = Duration::from_secs(1);
        let grace = self.grace.as_secs().max(1) as usize;
        if attempt <= grace {
            return second;
        }
        let per_round = 1 + self.dialling.as_secs() as usize;
        let k = attempt - grace - 1;
        match k % per_round {
            0 => self.pause(u32::try_from(k / per_round).unwrap_or(u32::MAX), jitter),
            _ => second,
        }
    }
}

impl Default for TunnelBackoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What to do with the leaf's dialling after an observation of the tunnel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Nothing changes.
    Keep,
    /// Stop dialling for this long.
    Pause(Duration),
    /// Dial again (the pause is over).
    Resume,
}

/// The backoff's state, fed one observation of the tunnel at a time (every second).
#[derive(Debug, Clone)]
pub struct Retrying {
    policy: TunnelBackoff,
    /// When the leaf started dialling in this round (the tunnel went down, or a pause ended).
    dialling_since: Option<Instant>,
    paused_until: Option<Instant>,
    round: u32,
}

impl Retrying {
    pub fn new(policy: TunnelBackoff) -> Self {
        Self { policy, dialling_since: None, paused_until: None, round: 0 }
    }

    /// Whether the leaf's dialling is paused now.
    pub fn paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// The tunnel is up or down at `now`; `jitter` in [0, 1) picks a pause within its bounds.
    pub fn observe(&mut self, up: bool, now: Instant, jitter: f64) -> Step {
        if up {
            let was_paused = self.paused();
            *self = Self::new(self.policy);
            // Up while paused cannot last (the remote is disabled): let the leaf dial as usual.
            return if was_paused { Step::Resume } else { Step::Keep };
        }
        if let Some(until) = self.paused_until {
            if now < until {
                return Step::Keep;
            }
            self.paused_until = None;
            self.dialling_since = Some(now);
            return Step::Resume;
        }
        let since = *self.dialling_since.get_or_insert(now);
        let window = if self.round == 0 { self.policy.grace } else { self.policy.dialling };
        if now.duration_since(since) < window {
            return Step::Keep;
        }
        let pause = self.policy.pause(self.round, jitter);
        self.round = self.round.saturating_add(1);
        self.dialling_since = None;
        self.paused_until = Some(now + pause);
        Step::Pause(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_failover_is_left_to_the_leaf_then_pauses_double_up_to_the_bound() {
        let p = TunnelBackoff::DEFAULT;
        let mut r = Retrying::new(p);
        let t0 = Instant::now();
        // Down for the grace: the leaf dials as it does.
        for s in 0..10 {
            assert_eq!(r.observe(false, t0 + S * s, 0.5), Step::Keep, "second {s}");
        }
        let mut t = t0 + p.grace;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            let Step::Pause(d) = r.observe(false, t, 0.0) else { panic!("no pause at {:?}", t - t0) };
            pauses.push(d.as_secs());
            assert!(r.paused());
            assert_eq!(r.observe(false, t + d - Duration::from_millis(1), 0.0), Step::Keep);
            t += d;
            assert_eq!(r.observe(false, t, 0.0), Step::Resume);
            assert_eq!(r.observe(false, t + S, 0.0), Step::Keep, "dialling again");
            t += p.dialling;
        }
        // Jitter 0: half of each bound (4, 8, 16, 32, 60, …).
        assert_eq!(pauses, [2, 4, 8, 16, 30, 30, 30]);
        // Up: everything starts over, and a later loss gets the whole grace again.
        assert_eq!(r.observe(true, t, 0.0), Step::Keep);
        assert_eq!(r.observe(false, t + S, 0.0), Step::Keep);
        assert_eq!(r.observe(false, t + S * 5, 0.0), Step::Keep);
        assert!(matches!(r.observe(false, t + S * 11, 0.0), Step::Pause(_)));
        assert_eq!(r.observe(true, t + S * 12, 0.0), Step::Resume, "up while paused: dial as usual");
    }

    #[test]
    fn a_pause_stays_within_its_bounds() {
        let p = TunnelBackoff::DEFAULT;
        assert_eq!(p.pause(0, 0.0), 2 * S);
        assert_eq!(p.pause(0, 0.999_999), Duration::from_secs_f64(4.0 * (0.5 + 0.5 * 0.999_999)));
        assert_eq!(p.pause(40, 1.0), 60 * S);
        assert_eq!(p.pause(3, 7.0), 32 * S, "jitter clamped");
    }

    #[test]
    fn the_schedule_per_attempt_is_the_same_rounds() {
        let p = TunnelBackoff::DEFAULT;
        let delays: Vec<u64> = (1..=22).map(|n| p.delay_before_attempt(n, 0.0).as_secs()).collect();
        // Ten one-second attempts through the grace, then rounds of a pause and two more.
        assert_eq!(delays, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 4, 1, 1, 8, 1, 1, 16, 1, 1]);
    }
}
