//! The escape battery as data: one row per hostile probe (what it proves, its C body or
//! shell script, the outcomes that count as blocked, how its control proves it works
//! unsandboxed, and which oracle judges it). Also the positive checks a step must pass.
//! `sandbox_battery` turns every row into a unit of a generated yoe project.

/// How a probe is written. C bodies are functions `static int p_NAME(void)` of one C
/// file compiled on the host (see `C_PRELUDE`); they print `RESULT <TOKEN>` last.
pub enum Kind {
    C(&'static str),
    Sh(&'static str),
}

/// Where the probe proves it works unsandboxed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Control {
    /// Directly on the host, as root (the test runner).
    Host,
    /// On the host with a terminal on stdin/stdout (`script`).
    HostTty,
    /// Under bwrap as root with the same namespaces but without the helper's layers.
    BareBwrap,
}

/// Host-side state a write probe aims at (each run gets its own file).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    Usr,
    Etc,
    Project,
    OtherUnit,
    Cache,
    HostTmp,
    HostShm,
    Sysroot,
    /// The unit's own build dir, where yoe keeps its `build.json` and `build.log`.
    UnitDir,
}

/// Who decides whether the probe escaped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Oracle {
    /// The probe's own `RESULT ESCAPED`.
    Token,
    /// The host file for this target exists afterwards (the probe's token is ignored:
    /// writing into the sandbox's private /tmp is fine).
    HostFile(Target),
    /// The probe's output contains the secret planted in yoe's environment.
    Secret,
    /// The victim process on the host is dead afterwards.
    Victim,
}

pub struct Probe {
    pub name: &'static str,
    pub proves: &'static str,
    pub kind: Kind,
    /// Tokens that count as blocked in the sandbox (for `Oracle::Token`).
    pub blocked: &'static [&'static str],
    pub control: Control,
    pub oracle: Oracle,
}

const EPERM: &[&str] = &["EPERM"];

macro_rules! c {
    ($name:literal, $proves:literal, $body:literal, $blocked:expr, $control:ident) => {
        Probe {
            name: $name,
            proves: $proves,
            kind: Kind::C($body),
            blocked: $blocked,
            control: Control::$control,
            oracle: Oracle::Token,
        }
    };
}

macro_rules! write_probe {
    ($name:literal, $proves:literal, $target:ident) => {
        Probe {
            name: $name,
            proves: $proves,
            kind: Kind::Sh("mkdir -p \"$(dirname \"$PROBE_TARGET\")\" 2>/dev/null; if echo pwned > \"$PROBE_TARGET\"; then echo RESULT ESCAPED; else echo RESULT FAILED; fi"),
            blocked: &[],
            control: Control::Host,
            oracle: Oracle::HostFile(Target::$target),
        }
    };
}

/// Shared C code of every probe.
pub const C_PRELUDE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/netlink.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <dirent.h>
#include <unistd.h>
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static int report(long rc) {
    if (rc >= 0) { puts("RESULT ESCAPED"); return 0; }
    printf("RESULT %s\n", strerrorname_np(errno)); return 1;
}
/* The call got past any filter when it fails with anything but EPERM. */
static int reached(long rc) {
    if (rc >= 0 || errno != EPERM) {
        printf("RESULT ESCAPED (%s)\n", rc >= 0 ? "ok" : strerrorname_np(errno)); return 0;
    }
    puts("RESULT EPERM"); return 1;
}
static long env_long(const char *k) { const char *v = getenv(k); return v ? atol(v) : -1; }
static int clone_flag(unsigned long flag) {
    long pid = syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, 0, 0);
    return report(pid);
}
static int connect_read(int fd, struct sockaddr *a, socklen_t len) {
    if (connect(fd, a, len) < 0) return report(-1);
    char buf[32] = {0};
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (read(fd, buf, sizeof buf - 1) > 0 && strstr(buf, "yoe-banner")) return report(0);
    return report(-1);
}
static int make_file(const char *name) {
    int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    if (fd >= 0) close(fd);
    return fd;
}
"#;

/// Every hostile probe.
pub fn probes() -> Vec<Probe> {
    vec![
        // ---- namespaces -------------------------------------------------------------
        c!("unshare_user", "no new user namespace via unshare(2)", "return report(unshare(CLONE_NEWUSER));", EPERM, Host),
        c!("unshare_mount", "no new mount namespace via unshare(2)", "return report(unshare(CLONE_NEWNS));", EPERM, Host),
        c!("unshare_net", "no new network namespace via unshare(2)", "return report(unshare(CLONE_NEWNET));", EPERM, Host),
        Probe {
            name: "unshare_cmd",
            proves: "unshare(1) -r cannot map a new root",
            kind: Kind::Sh("if unshare -Ur true 2>/dev/null; then echo RESULT ESCAPED; else echo RESULT FAILED; fi"),
            blocked: &["FAILED"],
            control: Control::Host,
            oracle: Oracle::Token,
        },
        c!("clone_newuser", "clone(2) with CLONE_NEWUSER is refused", "return clone_flag(CLONE_NEWUSER);", EPERM, Host),
        c!("clone_newns", "clone(2) with CLONE_NEWNS is refused", "return clone_flag(CLONE_NEWNS);", EPERM, Host),
        c!("clone_newnet", "clone(2) with CLONE_NEWNET is refused", "return clone_flag(CLONE_NEWNET);", EPERM, Host),
        c!("clone_newpid", "clone(2) with CLONE_NEWPID is refused", "return clone_flag(CLONE_NEWPID);", EPERM, Host),
        c!("clone3_newuser", "clone3(2) cannot create a user namespace",
           "struct clone_args a; memset(&a, 0, sizeof a); a.flags = CLONE_NEWUSER; a.exit_signal = SIGCHLD;
            long pid = syscall(SYS_clone3, &a, sizeof a); if (pid == 0) _exit(0); if (pid > 0) waitpid(pid, 0, 0);
            return report(pid);", &["ENOSYS"], Host),
        c!("setns_net", "setns(2) is refused",
           "int fd = open(\"/proc/self/ns/net\", O_RDONLY); if (fd < 0) return report(-1); return report(setns(fd, CLONE_NEWNET));", &["EPERM", "EACCES"], Host),
        // ---- mounts -------------------------------------------------------------------
        c!("mount_tmpfs", "mount(2) of a tmpfs is refused",
           "mkdir(\"mnt\", 0755); return report(mount(\"none\", \"mnt\", \"tmpfs\", 0, 0));", EPERM, BareBwrap),
        c!("mount_bind", "bind mounts are refused",
           "mkdir(\"mnt\", 0755); return report(mount(\"/usr\", \"mnt\", 0, MS_BIND, 0));", EPERM, BareBwrap),
        c!("umount_usr", "the read-only /usr cannot be unmounted", "return report(umount2(\"/usr\", MNT_DETACH));", EPERM, BareBwrap),
        c!("pivot_root", "pivot_root(2) is refused", "return report(syscall(SYS_pivot_root, \".\", \".\"));", EPERM, BareBwrap),
        c!("fsopen", "the new mount API (fsopen) is refused", "return report(syscall(SYS_fsopen, \"tmpfs\", 0));", EPERM, BareBwrap),
        c!("open_tree", "open_tree(2) cannot clone a mount", "return report(syscall(SYS_open_tree, AT_FDCWD, \"/usr\", 1 /* OPEN_TREE_CLONE */));", EPERM, BareBwrap),
        c!("mount_setattr_usr_rw", "mount_setattr(2) cannot make /usr writable",
           "struct { uint64_t set, clr, prop, userns; } a = {0, 0x1 /* RDONLY */, 0, 0};
            return report(syscall(SYS_mount_setattr, AT_FDCWD, \"/usr\", 0, &a, sizeof a));", EPERM, BareBwrap),
        c!("chroot", "chroot(2) is refused", "return report(chroot(\".\"));", EPERM, Host),
        // ---- other processes ------------------------------------------------------------
        c!("ptrace_parent", "a step cannot ptrace its parent",
           "pid_t parent = getpid(); pid_t pid = fork();
            if (pid == 0) { long r = ptrace(PTRACE_ATTACH, parent, 0, 0); int e = errno;
                            if (r == 0) { waitpid(parent, 0, __WALL); ptrace(PTRACE_DETACH, parent, 0, 0); _exit(0); } _exit(e); }
            int st = 0; waitpid(pid, &st, 0); if (WEXITSTATUS(st) == 0) return report(0); errno = WEXITSTATUS(st); return report(-1);", EPERM, Host),
        c!("ptrace_traceme", "PTRACE_TRACEME is refused", "return report(ptrace(PTRACE_TRACEME, 0, 0, 0));", EPERM, Host),
        Probe {
            name: "kill_host_process",
            proves: "a host process of the same uid cannot be killed",
            kind: Kind::C("return report(kill((pid_t)env_long(\"PROBE_VICTIM_PID\"), SIGKILL));"),
            blocked: &[],
            control: Control::Host,
            oracle: Oracle::Victim,
        },
        // ---- kernel attack surface ----------------------------------------------------------
        c!("bpf_map_create", "bpf(2) is refused",
           "union bpf_attr a; memset(&a, 0, sizeof a); a.map_type = BPF_MAP_TYPE_ARRAY; a.key_size = 4; a.value_size = 4; a.max_entries = 1;
            return report(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a));", EPERM, Host),
        c!("keyctl", "keyctl(2) is refused", "return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));", EPERM, Host),
        c!("add_key", "add_key(2) is refused", "return report(syscall(SYS_add_key, \"user\", \"yoe-battery\", \"x\", 1, -2 /* process keyring */));", EPERM, Host),
        c!("request_key", "request_key(2) is refused", "return reached(syscall(SYS_request_key, \"user\", \"yoe-battery-none\", 0, 0));", EPERM, Host),
        c!("perf_event_open", "perf_event_open(2) is refused",
           "struct perf_event_attr a; memset(&a, 0, sizeof a); a.size = sizeof a; a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_CPU_CLOCK; a.disabled = 1;
            return report(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));", EPERM, Host),
        c!("io_uring_setup", "io_uring is refused",
           "struct io_uring_params p; memset(&p, 0, sizeof p); return report(syscall(SYS_io_uring_setup, 1, &p));", EPERM, Host),
        c!("userfaultfd", "userfaultfd(2) is refused", "return report(syscall(SYS_userfaultfd, O_CLOEXEC));", EPERM, Host),
        c!("kexec_load", "kexec_load(2) never reaches the kernel", "return reached(syscall(SYS_kexec_load, 0, 0, 0, 0x8000UL));", EPERM, Host),
        c!("kexec_file_load", "kexec_file_load(2) never reaches the kernel", "return reached(syscall(SYS_kexec_file_load, -1, -1, 0, \"\", 0x80000000UL));", EPERM, Host),
        c!("init_module", "init_module(2) never reaches the kernel", "return reached(syscall(SYS_init_module, 0, 0, \"\"));", EPERM, Host),
        c!("finit_module", "finit_module(2) never reaches the kernel", "return reached(syscall(SYS_finit_module, -1, \"\", 0));", EPERM, Host),
        c!("delete_module", "delete_module(2) never reaches the kernel", "return reached(syscall(SYS_delete_module, \"yoe_battery_none\", O_NONBLOCK));", EPERM, Host),
        c!("reboot", "reboot(2) never reaches the kernel (bad magic on the host)", "return reached(syscall(SYS_reboot, 0, 0, 0, 0));", EPERM, Host),
        c!("swapon", "swapon(2) never reaches the kernel", "return reached(swapon(\"/nonexistent-yoe-battery\", 0));", EPERM, Host),
        c!("acct", "acct(2) never reaches the kernel", "return reached(acct(\"/nonexistent-yoe-battery/x\"));", EPERM, Host),
        c!("personality", "personality(2) cannot change the execution domain", "return report(personality(ADDR_NO_RANDOMIZE));", EPERM, Host),
        c!("x32_syscall", "x32 syscall numbers never reach the kernel", "return reached(syscall(0x40000000 | SYS_getpid));", EPERM, Host),
        c!("i386_int80", "32-bit syscalls via int 0x80 kill the process",
           "pid_t pid = fork(); if (pid == 0) { long r; __asm__ volatile (\"int $0x80\" : \"=a\"(r) : \"a\"(20) : \"memory\"); _exit(r > 0 ? 0 : 1); }
            int st = 0; waitpid(pid, &st, 0);
            if (WIFSIGNALED(st)) { printf(\"RESULT %s\\n\", sigabbrev_np(WTERMSIG(st))); return 1; }
            if (WEXITSTATUS(st) == 0) return report(0); puts(\"RESULT FAILED\"); return 1;", &["SYS"], Host),
        c!("iopl", "iopl(2) never reaches the kernel", "return reached(iopl(3));", EPERM, Host),
        c!("syslog_read", "the kernel log cannot be read", "return report(klogctl(10 /* SIZE_BUFFER */, 0, 0));", EPERM, Host),
        c!("open_by_handle", "file handles cannot reopen files by inode (shocker)",
           "struct { struct file_handle h; unsigned char b[128]; } fh; fh.h.handle_bytes = 128; int mnt;
            if (name_to_handle_at(AT_FDCWD, \".\", &fh.h, &mnt, 0) < 0) return report(-1);
            return report(open_by_handle_at(open(\".\", O_RDONLY), &fh.h, O_RDONLY));", EPERM, Host),
        c!("tiocsti", "no keystrokes can be pushed into a terminal",
           "char c = ' '; long r = ioctl(0, TIOCSTI, &c); int e = errno;
            int t = open(\"/dev/tty\", O_RDWR); if (r < 0 && t >= 0 && ioctl(t, TIOCSTI, &c) == 0) r = 0;
            errno = e; return report(r);", &["ENOTTY", "ENXIO", "EIO", "EPERM"], HostTty),
        // ---- network ----------------------------------------------------------------------
        c!("socket_raw", "no raw IP sockets", "return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));", EPERM, Host),
        c!("socket_packet", "no packet sockets", "return report(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));", EPERM, Host),
        c!("socket_netlink", "no netlink sockets", "return report(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));", EPERM, Host),
        c!("socket_vsock", "no vsock sockets (not namespaced: they reach the VM host)", "return reached(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));", EPERM, Host),
        c!("tcp_host_loopback", "a TCP listener on the host's 127.0.0.1 is unreachable",
           "struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(env_long(\"PROBE_TCP_PORT\")); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return connect_read(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&a, sizeof a);", &["EACCES", "ECONNREFUSED", "ENETUNREACH"], Host),
        c!("tcp_bind", "no TCP port can be bound", 
           "struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return report(bind(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&a, sizeof a));", &["EACCES"], Host),
        c!("udp_host_loopback", "a UDP service on the host's 127.0.0.1 is unreachable",
           "struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(env_long(\"PROBE_UDP_PORT\")); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int fd = socket(AF_INET, SOCK_DGRAM, 0); struct timeval tv = {1, 0}; setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (sendto(fd, \"ping\", 4, 0, (struct sockaddr *)&a, sizeof a) < 0) return report(-1);
            char buf[8] = {0}; if (recv(fd, buf, 7, 0) == 4 && !memcmp(buf, \"pong\", 4)) return report(0); return report(-1);",
           &["EAGAIN", "ECONNREFUSED", "ENETUNREACH", "EACCES"], Host),
        c!("abstract_unix_host", "the host's abstract unix sockets are unreachable",
           "struct sockaddr_un a = {0}; a.sun_family = AF_UNIX; const char *n = getenv(\"PROBE_ABSTRACT\"); size_t l = strlen(n);
            memcpy(a.sun_path + 1, n, l); return connect_read(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + l);",
           &["ECONNREFUSED", "EPERM"], Host),
        c!("unix_path_host", "the host's pathname unix sockets are unreachable",
           "struct sockaddr_un a = {0}; a.sun_family = AF_UNIX; strncpy(a.sun_path, getenv(\"PROBE_UNIX_PATH\"), sizeof a.sun_path - 1);
            return connect_read(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&a, sizeof a);", &["ENOENT", "EACCES"], Host),
        Probe {
            name: "net_interfaces",
            proves: "no network interface but loopback is visible",
            kind: Kind::Sh("if awk 'NR>2 {sub(\":\",\"\",$1); print $1}' /proc/net/dev | grep -qvx lo; then echo RESULT ESCAPED; else echo RESULT LOONLY; fi"),
            blocked: &["LOONLY"],
            control: Control::Host,
            oracle: Oracle::Token,
        },
        Probe {
            name: "net_routes",
            proves: "there is no route beyond loopback",
            kind: Kind::Sh("n=$(awk 'NR>1' /proc/net/route | wc -l); m=$(grep -vc ' lo$' /proc/net/ipv6_route); if [ \"$n\" -gt 0 ] || [ \"$m\" -gt 0 ]; then echo RESULT ESCAPED; else echo RESULT NOROUTE; fi"),
            blocked: &["NOROUTE"],
            control: Control::Host,
            oracle: Oracle::Token,
        },
        // ---- host filesystem: writes ------------------------------------------------------
        write_probe!("write_usr", "host /usr cannot be written", Usr),
        write_probe!("write_etc", "host /etc cannot be written", Etc),
        write_probe!("write_project", "the project dir cannot be written", Project),
        write_probe!("write_other_unit", "another unit's dirs cannot be written", OtherUnit),
        write_probe!("write_cache", "yoe's cache cannot be written", Cache),
        write_probe!("write_host_tmp", "the host's /tmp cannot be written", HostTmp),
        write_probe!("write_host_shm", "the host's /dev/shm cannot be written", HostShm),
        write_probe!("write_sysroot", "the sysroot is read-only", Sysroot),
        write_probe!("write_unit_dir", "the unit's own build record (build.json, build.log) is out of reach", UnitDir),
        // ---- host filesystem and secrets: reads ---------------------------------------------
        c!("read_shadow", "/etc/shadow cannot be read", "return report(open(\"/etc/shadow\", O_RDONLY));", &["ENOENT", "EACCES"], Host),
        c!("read_root_home", "/root cannot be listed", "DIR *d = opendir(\"/root\"); return report(d ? 0 : -1);", &["ENOENT", "EACCES"], Host),
        c!("read_other_unit", "another unit's files cannot be read", "return report(open(getenv(\"PROBE_OTHER_FILE\"), O_RDONLY));", &["ENOENT", "EACCES"], Host),
        Probe {
            name: "read_host_init",
            proves: "the host's pid 1 is not visible",
            kind: Kind::Sh("if [ \"$(tr '\\0' ' ' < /proc/1/cmdline | cut -c1-24)\" = \"$PROBE_HOST_INIT\" ]; then echo RESULT ESCAPED; else echo RESULT OTHERINIT; fi"),
            blocked: &["OTHERINIT"],
            control: Control::Host,
            oracle: Oracle::Token,
        },
        Probe {
            name: "read_yoe_secret",
            proves: "a secret in yoe's environment is not visible (own env, /proc/*/environ)",
            kind: Kind::Sh("env; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < \"$f\"; done 2>/dev/null; echo RESULT NOTFOUND"),
            blocked: &[],
            control: Control::Host,
            oracle: Oracle::Secret,
        },
        c!("read_kmsg", "the kernel log device is not reachable", "return report(open(\"/dev/kmsg\", O_RDONLY));", &["ENOENT", "EACCES"], Host),
        c!("open_block_device", "host block devices are not reachable", "return report(open(getenv(\"PROBE_DEV\"), O_RDONLY));", &["ENOENT", "EACCES"], Host),
        c!("mknod_char", "no device nodes can be created", "return report(mknod(\"devnull\", S_IFCHR | 0666, makedev(1, 3)));", &["EPERM", "EACCES"], Host),
        c!("write_proc_sys", "/proc/sys cannot be opened for writing", "return report(open(\"/proc/sys/vm/overcommit_ratio\", O_WRONLY));", &["EROFS", "EACCES"], Host),
        c!("write_sys", "/sys cannot be opened for writing", "return report(open(\"/sys/kernel/mm/transparent_hugepage/enabled\", O_WRONLY));", &["ENOENT", "EROFS", "EACCES"], Host),
        // ---- privileged files -----------------------------------------------------------------
        c!("setuid_chmod", "chmod(2) cannot set the setuid bit", "make_file(\"f\"); return report(chmod(\"f\", 04755));", EPERM, Host),
        c!("setgid_chmod", "chmod(2) cannot set the setgid bit", "make_file(\"f\"); return report(chmod(\"f\", 02755));", EPERM, Host),
        c!("setuid_fchmod", "fchmod(2) cannot set the setuid bit", "int fd = open(\"f\", O_CREAT | O_RDWR, 0755); return report(fchmod(fd, 04755));", EPERM, Host),
        c!("setuid_fchmodat", "fchmodat(2) cannot set the setuid bit", "make_file(\"f\"); return report(fchmodat(AT_FDCWD, \"f\", 04755, 0));", EPERM, Host),
        c!("setuid_fchmodat2", "fchmodat2(2) cannot set the setuid bit", "make_file(\"f\"); return report(syscall(SYS_fchmodat2, AT_FDCWD, \"f\", 04755, 0));", EPERM, Host),
        c!("file_caps", "no file capability (security.capability xattr) can be set",
           "make_file(\"f\"); uint32_t cap[5] = {0x02000001 /* v2, effective */, 1u << 13 /* net_raw */, 0, 0, 0};
            return report(setxattr(\"f\", \"security.capability\", cap, sizeof cap, 0));", &["EOPNOTSUPP"], Host),
        c!("user_xattr", "no extended attribute can be set", "make_file(\"f\"); return report(setxattr(\"f\", \"user.yoe\", \"x\", 1, 0));", &["EOPNOTSUPP"], Host),
        // ---- resources ------------------------------------------------------------------------
        c!("exhaust_procs", "the process count is capped by RLIMIT_NPROC",
           "long want = env_long(\"PROBE_NPROC_LIMIT\") + 16; int p[2]; pipe(p); long n = 0; int e = 0;
            for (; n < want; n++) { pid_t pid = fork(); if (pid == 0) { char c; close(p[1]); read(p[0], &c, 1); _exit(0); } if (pid < 0) { e = errno; break; } }
            close(p[1]); while (wait(0) > 0) {}
            if (n >= want) return report(0); errno = e; return report(-1);", &["EAGAIN"], Host),
        c!("exhaust_files", "open files are capped by RLIMIT_NOFILE",
           "long want = env_long(\"PROBE_NOFILE_LIMIT\") + 16; struct rlimit r; getrlimit(RLIMIT_NOFILE, &r); r.rlim_cur = r.rlim_max; setrlimit(RLIMIT_NOFILE, &r);
            for (long n = 0; n < want; n++) if (open(\"/dev/null\", O_RDONLY) < 0) return report(-1);
            return report(0);", &["EMFILE"], Host),
        c!("exhaust_file_size", "file size is capped by RLIMIT_FSIZE",
           "signal(SIGXFSZ, SIG_IGN); int fd = open(\"big\", O_CREAT | O_WRONLY, 0644);
            long r = pwrite(fd, \"x\", 1, env_long(\"PROBE_FSIZE_LIMIT\") + 4096); unlink(\"big\"); return report(r);", &["EFBIG"], Host),
    ]
}

/// Probes that must not run beside any other step: the process limit counts every process
/// of the host uid, so filling it would starve the steps of other units built at the same
/// time. Their units depend on every other unit, so they are built last, alone.
pub const RUNS_ALONE: &[&str] = &["exhaust_procs"];

/// What a step must still be able to do (each prints `RESULT OK`).
pub const POSITIVE: &[(&str, &str)] = &[
    (
        "compile_and_run_c",
        "printf '#include <stdio.h>\\nint main(void){puts(\"hi\");return 0;}\\n' > hello.c && gcc -o hello hello.c && ./hello && cc -o hello2 hello.c && ./hello2 && echo RESULT OK",
    ),
    (
        "threads",
        "printf '#include <pthread.h>\\nstatic void *f(void *a){return a;}\\nint main(void){pthread_t t[4];for(int i=0;i<4;i++)if(pthread_create(&t[i],0,f,0))return 1;for(int i=0;i<4;i++)pthread_join(t[i],0);return 0;}\\n' > t.c && gcc -pthread -o t t.c && ./t && echo RESULT OK",
    ),
    ("fork", "( exit 0 ) & wait $! && sh -c 'exit 0' && echo RESULT OK"),
    ("dev_null", "echo x > /dev/null && cat /dev/null && echo RESULT OK"),
    ("dev_urandom", "head -c 16 /dev/urandom | wc -c | grep -qx 16 && echo RESULT OK"),
    ("own_tmpdir", "echo x > \"$TMPDIR/f\" && cat \"$TMPDIR/f\" >/dev/null && echo y > /tmp/g && echo RESULT OK"),
    (
        "destdir_and_home",
        "mkdir -p \"$DESTDIR/usr/bin\" && touch \"$DESTDIR/usr/bin/x\" \"$HOME/.x\" && ln -s x \"$DESTDIR/usr/bin/y\" && echo RESULT OK",
    ),
    ("make", "printf 'all:\\n\\t@echo made\\n' > Makefile && make | grep -qx made && echo RESULT OK"),
    (
        "reopen_stdio",
        "echo out > /dev/stdout && echo err > /dev/stderr && echo fd > /proc/self/fd/1 && cat /dev/null > /dev/stderr && echo RESULT OK",
    ),
    (
        "cp_a_and_tar",
        "mkdir -p d/s && echo x > d/s/f && ln -s f d/s/l && chmod 0750 d/s && cp -a d e && cmp d/s/f e/s/f && tar -cf t.tar d && mkdir u && tar -xpf t.tar -C u && cmp d/s/f u/d/s/f && test -L u/d/s/l && echo RESULT OK",
    ),
    (
        "personality_query",
        "printf '#include <sys/personality.h>\\nint main(void){return personality(0xffffffff)==-1;}\\n' > p.c && gcc -o p p.c && ./p && echo RESULT OK",
    ),
];
