//! Thin safe wrappers over the raw syscalls the helper and `yoe doctor` need and that std
//! does not offer. Each wrapper owns one call; callers own the policy decisions.

use std::io;

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The Landlock ABI version of the running kernel; 0 when Landlock is not built in or
/// not enabled at boot.
pub fn landlock_abi() -> u32 {
    // LANDLOCK_CREATE_RULESET_VERSION
    const VERSION: libc::c_uint = 1 << 0;
    // SAFETY: with a null attr pointer, size 0 and the VERSION flag the kernel only
    // returns the ABI version (or an error); it reads and writes no memory.
    let v =
        unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<libc::c_void>(), 0usize, VERSION) };
    u32::try_from(v).unwrap_or(0)
}

/// Whether seccomp filter mode is available: `PR_SET_SECCOMP` with a null program fails
/// with EFAULT when filters are supported and EINVAL when they are not. Nothing is
/// installed either way.
pub fn seccomp_filter_available() -> bool {
    // SAFETY: a null filter pointer makes the kernel fail the call with EFAULT before it
    // installs anything; no memory of ours is touched.
    let rc =
        unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, std::ptr::null::<libc::c_void>(), 0, 0) };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Sets no_new_privs on this thread (inherited by children and kept across execve).
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Asks the kernel to SIGKILL this process when its parent dies (kept across execve).
pub fn set_parent_death_kill() -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Sends SIGKILL to process `pid`. The caller must know `pid` is its own unreaped child
/// (a zombie keeps its pid, so it cannot have been reused).
pub fn kill_child(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill takes plain integers and touches no memory; pid > 0 names one process.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Reads no_new_privs.
pub fn no_new_privs() -> io::Result<bool> {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    match rc {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Whether capability `cap` is in the bounding set: `Ok(None)` when the kernel does not
/// know that capability number.
pub fn capbset_read(cap: u32) -> io::Result<Option<bool>> {
    // SAFETY: PR_CAPBSET_READ takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) };
    match rc {
        0 => Ok(Some(false)),
        1 => Ok(Some(true)),
        _ => {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) { Ok(None) } else { Err(e) }
        }
    }
}

/// Drops capability `cap` from the bounding set (needs CAP_SETPCAP).
pub fn capbset_drop(cap: u32) -> io::Result<()> {
    // SAFETY: PR_CAPBSET_DROP takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Sets the securebits (needs CAP_SETPCAP).
pub fn set_securebits(bits: u32) -> io::Result<()> {
    // SAFETY: PR_SET_SECUREBITS takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, libc::c_ulong::from(bits), 0, 0, 0) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Reads a resource limit.
pub fn getrlimit(resource: u32) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(resource as _, &mut lim) };
    if rc == 0 { Ok((lim.rlim_cur, lim.rlim_max)) } else { Err(io::Error::last_os_error()) }
}

/// Sets a resource limit.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `lim` is a valid rlimit that the kernel only reads.
    let rc = unsafe { libc::setrlimit(resource as _, &lim) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Marks every fd from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // CLOSE_RANGE_CLOEXEC
    const CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with the CLOEXEC flag only changes fd flags; it closes nothing
    // and touches no memory.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, CLOEXEC) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Makes `dst` a copy of `src` (dup2), clearing close-on-exec on `dst`.
pub fn dup2(src: i32, dst: i32) -> io::Result<()> {
    // SAFETY: dup2 takes two integers; on success `dst` refers to `src`'s file. The
    // caller owns both numbers (the helper is single-threaded).
    let rc = unsafe { libc::dup2(src, dst) };
    if rc == dst { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unnecessary_cast)] // RLIMIT_* is c_uint on glibc, c_int on musl
    fn rlimit_roundtrip_lowers_only() {
        let (soft, hard) = getrlimit(libc::RLIMIT_CORE as u32).unwrap_or((0, 0));
        // Lowering the soft limit to what it already is always succeeds.
        assert!(setrlimit(libc::RLIMIT_CORE as u32, soft.min(hard), hard).is_ok());
    }

    #[test]
    fn probes_answer() {
        // Landlock ABI is a small number (0 when unsupported).
        assert!(landlock_abi() < 64);
        assert!(capbset_read(0).is_ok());
        assert_eq!(capbset_read(200).ok(), Some(None));
    }
}
