//! Syscall names used by policies, mapped to this architecture's numbers. Trusts libc's
//! constants; a name missing here is a policy error, a name absent on this architecture
//! maps to `None` (nothing to deny: the call does not exist).

/// The result of looking a syscall name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The syscall exists on this architecture with this number.
    Nr(i64),
    /// A known syscall that this architecture does not have.
    Absent,
    /// Not a name this table knows (a typo in the policy).
    Unknown,
}

macro_rules! both {
    ($name:literal, $c:ident) => {
        ($name, Some(libc::$c as i64))
    };
}

#[cfg(target_arch = "x86_64")]
macro_rules! x86_64_only {
    ($name:literal, $c:ident) => {
        ($name, Some(libc::$c as i64))
    };
}
#[cfg(not(target_arch = "x86_64"))]
macro_rules! x86_64_only {
    ($name:literal, $c:ident) => {
        ($name, None)
    };
}

/// `setxattrat(2)` (Linux 6.13) is not in libc 0.2.191 yet; the number is the same on
/// every architecture that uses the generic table and on x86_64.
const SYS_SETXATTRAT: i64 = 463;

/// Every syscall name a policy may mention.
pub const TABLE: &[(&str, Option<i64>)] = &[
    both!("acct", SYS_acct),
    both!("add_key", SYS_add_key),
    both!("bpf", SYS_bpf),
    x86_64_only!("chmod", SYS_chmod),
    both!("chroot", SYS_chroot),
    both!("clone", SYS_clone),
    both!("clone3", SYS_clone3),
    both!("delete_module", SYS_delete_module),
    both!("fchmod", SYS_fchmod),
    both!("fchmodat", SYS_fchmodat),
    both!("fchmodat2", SYS_fchmodat2),
    both!("finit_module", SYS_finit_module),
    both!("fsconfig", SYS_fsconfig),
    both!("fsetxattr", SYS_fsetxattr),
    both!("fsmount", SYS_fsmount),
    both!("fsopen", SYS_fsopen),
    both!("fspick", SYS_fspick),
    both!("init_module", SYS_init_module),
    both!("io_uring_enter", SYS_io_uring_enter),
    both!("io_uring_register", SYS_io_uring_register),
    both!("io_uring_setup", SYS_io_uring_setup),
    x86_64_only!("ioperm", SYS_ioperm),
    x86_64_only!("iopl", SYS_iopl),
    both!("kexec_file_load", SYS_kexec_file_load),
    both!("kexec_load", SYS_kexec_load),
    both!("keyctl", SYS_keyctl),
    both!("lsetxattr", SYS_lsetxattr),
    both!("mount", SYS_mount),
    both!("mount_setattr", SYS_mount_setattr),
    both!("move_mount", SYS_move_mount),
    both!("name_to_handle_at", SYS_name_to_handle_at),
    both!("open_by_handle_at", SYS_open_by_handle_at),
    both!("open_tree", SYS_open_tree),
    both!("perf_event_open", SYS_perf_event_open),
    both!("personality", SYS_personality),
    both!("pivot_root", SYS_pivot_root),
    both!("process_vm_readv", SYS_process_vm_readv),
    both!("process_vm_writev", SYS_process_vm_writev),
    both!("ptrace", SYS_ptrace),
    both!("quotactl", SYS_quotactl),
    both!("reboot", SYS_reboot),
    both!("request_key", SYS_request_key),
    both!("setns", SYS_setns),
    both!("setxattr", SYS_setxattr),
    ("setxattrat", Some(SYS_SETXATTRAT)),
    both!("socket", SYS_socket),
    both!("socketpair", SYS_socketpair),
    both!("swapoff", SYS_swapoff),
    both!("swapon", SYS_swapon),
    both!("syslog", SYS_syslog),
    both!("umount2", SYS_umount2),
    both!("unshare", SYS_unshare),
    x86_64_only!("uselib", SYS_uselib),
    both!("userfaultfd", SYS_userfaultfd),
];

/// Looks a syscall name up.
pub fn lookup(name: &str) -> Lookup {
    match TABLE.iter().find(|(n, _)| *n == name) {
        Some((_, Some(nr))) => Lookup::Nr(*nr),
        Some((_, None)) => Lookup::Absent,
        None => Lookup::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in TABLE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn known_x86_64_numbers() {
        assert_eq!(lookup("mount"), Lookup::Nr(165));
        assert_eq!(lookup("clone3"), Lookup::Nr(435));
        assert_eq!(lookup("setxattrat"), Lookup::Nr(463));
        assert_eq!(lookup("chmod"), Lookup::Nr(90));
        assert_eq!(lookup("mount2"), Lookup::Unknown);
    }
}
