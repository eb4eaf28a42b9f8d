//! Process plumbing the outer `yoe` needs and std only offers through `unsafe`
//! (`pre_exec`): making a spawned process die with yoe. Trusts std's fork/exec sequence.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the process `cmd` spawns receive SIGKILL when the spawning thread's process
/// dies (PR_SET_PDEATHSIG, set after std's uid/gid switch so it survives it). If yoe
/// died between fork and the prctl, the child fails to start instead of running orphaned.
///
/// The kernel sends the signal when the *thread* that spawned the child exits, so spawn
/// from a thread that outlives the child (a blocking run does).
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    let hook = move || -> io::Result<()> {
        // SAFETY: runs in the forked child before exec; prctl and getppid are
        // async-signal-safe, take plain integers and touch no memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: getppid has no preconditions and cannot fail.
        let ppid = unsafe { libc::getppid() };
        if u32::try_from(ppid).ok() != Some(parent) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls (prctl, getppid) and
    // allocates nothing, as required between fork and exec.
    unsafe {
        cmd.pre_exec(hook);
    }
}
