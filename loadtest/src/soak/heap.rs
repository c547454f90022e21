//! What each process of the soak holds live, beside its RSS: RSS also counts what an allocator
//! keeps after a burst, so growth in RSS alone does not tell a leak from a high-water mark.
//!
//! - The bench process (control plane, gateway, runner: all in it): glibc's `mallinfo2`, bytes
//!   handed out and not freed, and of it what SQLite holds (`sqlite3_memory_used`).
//! - Every nats-server (hub nodes, the runner's leaf): the Go runtime's GC trace, asked for with
//!   `GODEBUG=gctrace=1` (the soak sets it for itself and its children, see [`with_gc_trace`]).
//!   Each collection writes `gc N @t s …: …, A->B->C MB, …` to the server's stderr, and C is the
//!   heap still live after it.
//! - At the end, where each nats-server's heap is, by allocation site: Go's profiler (on a free
//!   loopback port, [`cloudops_bus::natsd::PROFILE_ENV`]) answers its heap profile, kept whole
//!   in `test-output/soak/` and summed here by the first function that is not Go's own.

use std::{collections::HashMap, path::Path};

/// Re-runs this program with `GODEBUG=gctrace=1` (and the nats-servers' profiler asked for)
/// when it is not set, so that the nats-servers it starts (which inherit the environment) trace
/// their collections. Returns only in the process that has it.
pub fn with_gc_trace() -> anyhow::Result<()> {
    let godebug = std::env::var("GODEBUG").unwrap_or_default();
    if godebug.split(',').any(|kv| kv == "gctrace=1") {
        return Ok(());
    }
    let godebug = if godebug.is_empty() { "gctrace=1".to_string() } else { format!("{godebug},gctrace=1") };
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env("GODEBUG", godebug)
        .env(cloudops_bus::natsd::PROFILE_ENV, "1")
        .status()?;
    std::process::exit(status.code().unwrap_or(1))
}

/// A Go heap profile (`/debug/pprof/heap?debug=1`): bytes in use by allocation site, largest
/// first, and the runtime's own figures (HeapInuse, HeapIdle, HeapReleased, Sys) in bytes.
pub struct GoHeap {
    pub sites: Vec<(String, u64)>,
    pub stats: Vec<(String, u64)>,
}

/// Reads a `debug=1` heap profile. A record is `objects: bytes [objects: bytes] @ addresses`
/// and its frames `#\t0x…\tfunction+0x…\tfile:line`; its site is the first frame outside
/// Go's runtime and standard containers (what asked, not `runtime.makeslice`). The bytes are
/// the profile's samples (one allocation in about every 512 KiB), so small sites are rough.
pub fn parse_go_heap(text: &str) -> GoHeap {
    let mut sites: HashMap<String, u64> = HashMap::new();
    let mut stats = Vec::new();
    let mut current: Option<u64> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ")
            && let Some((k, v)) = rest.split_once(" = ")
            && ["HeapInuse", "HeapIdle", "HeapReleased", "Sys"].contains(&k)
        {
            if let Ok(v) = v.trim().parse() {
                stats.push((k.to_string(), v));
            }
            continue;
        }
        if line.contains(" @ 0x") && !line.starts_with("heap profile") {
            // `1: 262144 [3: 786432] @ 0x…`: bytes in use is the second number.
            current = line.split(':').nth(1).and_then(|b| b.split_whitespace().next()).and_then(|b| b.parse().ok());
            continue;
        }
        if let Some(frame) = line.strip_prefix("#\t")
            && let Some(bytes) = current
        {
            let function = frame.split('\t').nth(1).unwrap_or_default();
            let function = function.split("+0x").next().unwrap_or(function);
            let ours = !["runtime.", "reflect.", "sync.", "bytes.", "strings.", "bufio.", "encoding/", "fmt."]
                .iter()
                .any(|p| function.starts_with(p));
            if ours && !function.is_empty() {
                *sites.entry(function.to_string()).or_default() += bytes;
                current = None;
            }
        }
    }
    let mut sites: Vec<(String, u64)> = sites.into_iter().filter(|(_, b)| *b > 0).collect();
    sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    GoHeap { sites, stats }
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

/// Gives the free memory glibc's arenas keep back to the system (`malloc_trim(0)`).
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists under its locks.
    unsafe { libc::malloc_trim(0) };
}

/// Bytes SQLite holds in this process (`sqlite3_memory_used`: page caches, prepared statements,
/// schemas, for every connection), part of [`malloc_in_use`]. Each pooled connection's page cache
/// fills up to SQLite's default `cache_size` (2,000 KiB) as the database grows past it.
#[allow(unsafe_code)]
pub fn sqlite_in_use() -> u64 {
    // SAFETY: sqlite3_memory_used takes no arguments and reads SQLite's memory counter under its
    // own mutex; it may be called before SQLite is initialized (it answers 0 then).
    let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    used.max(0) as u64
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
    fn heap_sites_are_summed_by_the_first_frame_that_is_not_gos_own() {
        let text = "heap profile: 3: 1536 [9: 4096] @ heap/1048576\n\
            1: 1024 [2: 2048] @ 0x1 0x2 0x3\n\
            #\t0x1\truntime.makeslice+0x10\t/go/src/runtime/slice.go:1\n\
            #\t0x2\tgithub.com/nats-io/nats-server/v2/server.(*stream).processJetStreamMsg+0x20\t/s/stream.go:9\n\
            #\t0x3\tgithub.com/nats-io/nats-server/v2/server.(*client).processInbound+0x30\t/s/client.go:9\n\
            \n\
            2: 512 [7: 2048] @ 0x4\n\
            #\t0x4\tgithub.com/nats-io/nats-server/v2/server.(*stream).processJetStreamMsg+0x44\t/s/stream.go:10\n\
            \n\
            0: 0 [5: 99] @ 0x5\n\
            #\t0x5\tgithub.com/nats-io/nats-server/v2/server.gone+0x1\t/s/x.go:1\n\
            \n\
            # runtime.MemStats\n\
            # HeapInuse = 3000\n\
            # HeapIdle = 500\n";
        let h = parse_go_heap(text);
        assert_eq!(
            h.sites,
            [("github.com/nats-io/nats-server/v2/server.(*stream).processJetStreamMsg".to_string(), 1536)]
        );
        assert_eq!(h.stats, [("HeapInuse".to_string(), 3000), ("HeapIdle".to_string(), 500)]);
    }

    #[test]
    fn the_allocator_counts_what_is_held() {
        let before = malloc_in_use();
        let held = vec![1u8; 8 << 20];
        assert!(malloc_in_use() >= before + (8 << 20) - 4096, "{before} → {}", malloc_in_use());
        drop(held);
    }
}
