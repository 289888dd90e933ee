//! The exec source's process-group guard: `rflume __exec-guard -- <command…>`.
//!
//! The exec source runs its command under this small supervisor, which leads the command's
//! process group and carries `PR_SET_PDEATHSIG`. When the agent stops the command it signals the
//! group; when the agent dies without warning (`kill -9`, OOM) the kernel sends the guard
//! SIGTERM. Either way the guard terminates the whole group — a shell pipeline such as
//! `tail -F app.log | grep ERROR` included, whose processes a parent-death signal alone would not
//! reach — so no orphaned `tail -F` outlives the agent.
//!
//! The guard inherits the command's stdin/stdout/stderr and exits with the command's status
//! (128 + signal number when it was killed by a signal, as a shell reports it).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::Duration;

/// The hidden subcommand that runs a command under the guard: `rflume __exec-guard -- cmd…`.
pub const EXEC_GUARD: &str = "__exec-guard";
/// What the guard writes before its own errors on the command's stderr, so that the exec source
/// can tell them from the command's.
pub const GUARD_ERROR_PREFIX: &str = "rflume __exec-guard: ";

/// Grace between SIGTERM and SIGKILL for the group.
const GRACE: Duration = Duration::from_secs(2);

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Runs the guard; returns the process exit code.
pub fn run(argv: &[String]) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("rflume __exec-guard: no command given");
        return 2;
    };
    let set = signal_set();
    // Termination signals are received by the waiting thread below, not delivered
    // asynchronously; the command gets them unblocked again (a mask survives exec).
    // SAFETY: changes this thread's signal mask only, before any other thread exists.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let set = signal_set();
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{GUARD_ERROR_PREFIX}cannot run {program}: {e}");
            return 127;
        }
    };
    std::thread::spawn(move || {
        let set = signal_set();
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait reads the set and writes the received signal number into `sig`.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            // SAFETY: kill(0, …) signals our own process group; the guard itself has these
            // signals blocked, so only the command's processes are affected.
            unsafe {
                libc::kill(0, libc::SIGTERM);
            }
            std::thread::sleep(GRACE);
            // Whatever ignored SIGTERM goes now, the guard with it.
            unsafe {
                libc::kill(0, libc::SIGKILL);
            }
        }
    });
    match child.wait() {
        Ok(status) => status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Err(e) => {
            eprintln!("{GUARD_ERROR_PREFIX}waiting for {program}: {e}");
            1
        }
    }
}
