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
//! Each child also runs in a process group of its own, so that a Ctrl-C at the terminal reaches
//! the parent only, which then stops its children in order.

use tokio::process::Command;

/// Makes `cmd` a child that dies with this process (see the module docs).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    cmd.kill_on_drop(true).process_group(0);
    #[cfg(target_os = "linux")]
    set_parent_death_signal(cmd);
    cmd
}

// The one `unsafe` of the workspace: `pre_exec` runs between fork and exec, where only
// async-signal-safe calls are allowed. Both calls below are raw syscalls through rustix: no
// allocation, no lock.
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
