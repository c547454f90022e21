//! Child processes that never outlive their parent: the hub and leaf `nats-server`s, and the
//! `--with-local-runner` runner.
//!
//! A child is killed with its parent however the parent ends, SIGKILL, OOM kill and crashes
//! included:
//! - **Linux**: the child asks the kernel for `SIGKILL` when its parent dies
//!   (`PR_SET_PDEATHSIG`, set between fork and exec, kept across exec), and checks that the
//!   parent did not die before the request was made. The signal is tied to the thread that
//!   spawned the child: spawn from a long-lived thread (a tokio worker), never from a
//!   `spawn_blocking` thread, which may exit while the process lives.
//! - **Elsewhere**: `kill_on_drop` and the graceful stop cover every orderly exit; a parent killed
//!   by SIGKILL leaves the child running (no portable parent-death signal exists).
//!
//! A [`Supervised`] child is restarted with backoff when it dies.
//!
//! Each child also runs in a process group of its own, so that a Ctrl-C at the terminal reaches
//! the parent only, which then stops its children in order.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use tokio::{
    process::{Child, Command},
    sync::watch,
    task::JoinHandle,
    time::Instant,
};
use tracing::warn;

/// Makes `cmd` a child that dies with this process (see the module docs).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    cmd.kill_on_drop(true).process_group(0);
    #[cfg(target_os = "linux")]
    set_parent_death_signal(cmd);
    cmd
}

// The one `unsafe` of the shipped code (the soak benchmark reads glibc's counters with another):
// `pre_exec` runs between fork and exec, where only async-signal-safe calls are allowed. Both
// calls below are raw syscalls through rustix: no allocation, no lock.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    use rustix::process::{Signal, getpid, getppid, set_parent_process_death_signal};
    let parent = getpid();
    // SAFETY: the closure only makes async-signal-safe syscalls and touches no shared state.
    unsafe {
        cmd.pre_exec(move || {
            set_parent_process_death_signal(Some(Signal::KILL))?;
            // The parent may have died between fork and prctl: then nobody would signal us.
            if getppid() != Some(parent) {
                return Err(std::io::Error::other("parent exited before the child started"));
            }
            Ok(())
        });
    }
}

/// A child restarted with backoff whenever it dies, until [`Supervised::stop`] (or drop).
///
/// The backoff doubles from 0.5 s to 16 s while the child keeps dying young; one that ran a
/// minute starts over at 0.5 s.
pub struct Supervised {
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Supervises `first`, already started; `respawn` starts the next one after it died.
    pub fn new(name: String, first: Child, respawn: impl Fn() -> std::io::Result<Child> + Send + 'static) -> Self {
        let pid = Arc::new(AtomicU32::new(first.id().unwrap_or(0)));
        let restarts = Arc::new(AtomicU32::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let (child_pid, count) = (pid.clone(), restarts.clone());
        let task = tokio::spawn(async move {
            let mut child = first;
            let mut young_deaths = 0u32;
            let mut started = Instant::now();
            loop {
                tokio::select! {
                    status = child.wait() => {
                        if *stopped.borrow() { return; }
                        young_deaths = if started.elapsed() > Duration::from_secs(60) { 1 } else { young_deaths + 1 };
                        let backoff = Duration::from_millis(250 * 2u64.pow(young_deaths.min(6)));
                        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
                        warn!(name = %name, ?status, restarts = n, ?backoff, "child process exited; restarting");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stopped.changed() => return,
                        }
                        match respawn() {
                            Ok(c) => {
                                child_pid.store(c.id().unwrap_or(0), Ordering::Relaxed);
                                child = c;
                                started = Instant::now();
                            }
                            // Counted as a death that came at once: the backoff keeps growing.
                            Err(e) => {
                                warn!(name = %name, error = %e, "restart failed; trying again");
                                started = Instant::now();
                            }
                        }
                    }
                    _ = stopped.changed() => {
                        terminate(&child);
                        if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                            let _ = child.kill().await;
                        }
                        return;
                    }
                }
            }
        });
        Self { pid, restarts, stop, task: Some(task) }
    }

    /// The running child's pid (it changes at each restart).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// The running child's pid as it changes, for what signals it later.
    pub(crate) fn pid_cell(&self) -> Arc<AtomicU32> {
        self.pid.clone()
    }

    /// How many times the child was restarted.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Graceful stop: SIGTERM, then SIGKILL after 5 s.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // The task stops the child; a child dropped with its task is killed (kill_on_drop).
        let _ = self.stop.send(true);
    }
}

fn terminate(child: &Child) {
    if let Some(pid) = child.id().and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}
