//! What each process of the soak holds live, beside its RSS: RSS also counts what an allocator
//! keeps after a burst, so growth in RSS alone does not tell a leak from a high-water mark.
//!
//! - The bench process (control plane, gateway, runner: all in it): glibc's `mallinfo2`, bytes
//!   handed out and not freed.
//! - Every nats-server (hub nodes, the runner's leaf): the Go runtime's GC trace, asked for with
//!   `GODEBUG=gctrace=1` (the soak sets it for itself and its children, see [`with_gc_trace`]).
//!   Each collection writes `gc N @t s …: …, A->B->C MB, …` to the server's stderr, and C is the
//!   heap still live after it.

use std::path::Path;

/// Re-runs this program with `GODEBUG=gctrace=1` when it is not set, so that the nats-servers it
/// starts (which inherit the environment) trace their collections. Returns only in the process
/// that has it.
pub fn with_gc_trace() -> anyhow::Result<()> {
    let godebug = std::env::var("GODEBUG").unwrap_or_default();
    if godebug.split(',').any(|kv| kv == "gctrace=1") {
        return Ok(());
    }
    let godebug = if godebug.is_empty() { "gctrace=1".to_string() } else { format!("{godebug},gctrace=1") };
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env("GODEBUG", godebug)
        .status()?;
    std::process::exit(status.code().unwrap_or(1))
}

/// The Go heap live after the last collection traced in `stderr_log`, in bytes.
pub fn go_live_heap(stderr_log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(stderr_log).ok()?;
    text.lines().rev().find_map(live_after_gc)
}

/// C of `A->B->C MB` in one line of Go's GC trace, in bytes.
fn live_after_gc(line: &str) -> Option<u64> {
    if !line.starts_with("gc ") {
        return None;
    }
    let mut words = line.split_whitespace();
    let sizes = words.by_ref().find(|w| w.contains("->"))?;
    if words.next()?.trim_end_matches(',') != "MB" {
        return None;
    }
    let live: u64 = sizes.rsplit("->").next()?.parse().ok()?;
    Some(live << 20)
}

/// Bytes this process's allocator has handed out and not had back (glibc's `mallinfo2`: small
/// chunks in every arena, plus the chunks it mapped on their own).
#[allow(unsafe_code)]
pub fn malloc_in_use() -> u64 {
    // SAFETY: mallinfo2 takes no arguments, returns a struct by value, and only reads the
    // allocator's counters under its own locks (glibc ≥ 2.33; Debian 12 has 2.36).
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_live_heap_after_a_collection() {
        let line = "gc 7 @0.543s 1%: 0.019+0.61+0.003 ms clock, 0.038+0.16/0.52/0.11+0.007 ms cpu, \
                    14->15->9 MB, 16 MB goal, 0 MB stacks, 0 MB globals, 2 P";
        assert_eq!(live_after_gc(line), Some(9 << 20));
        assert_eq!(live_after_gc("gc 8 @1.2s 1%: 4->4->1 MB, 4 MB goal, 2 P (forced)"), Some(1 << 20));
        assert_eq!(live_after_gc("[1] 2026/11/30 server ready"), None);
        assert_eq!(live_after_gc("gc 9 @1s 1%: garbled"), None);
    }

    #[test]
    fn the_last_collection_counts() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("hub.stderr.log");
        std::fs::write(&log, "gc 1 @0.1s 0%: 4->4->3 MB, 4 MB goal\ngc 2 @0.2s 0%: 6->6->5 MB, 8 MB goal\n").unwrap();
        assert_eq!(go_live_heap(&log), Some(5 << 20));
        assert_eq!(go_live_heap(&dir.path().join("missing")), None);
    }

    #[test]
    fn the_allocator_counts_what_is_held() {
        let before = malloc_in_use();
        let held = vec![1u8; 8 << 20];
        assert!(malloc_in_use() >= before + (8 << 20) - 4096, "{before} → {}", malloc_in_use());
        drop(held);
    }
}
