//! The host side of the battery: the probe binary compiled once from the probe table, the
//! 127.0.0.1 listeners and unix sockets the network probes aim at, the test user, and the
//! victim processes the kill probe aims at. Nothing here sends traffic anywhere but
//! 127.0.0.1.

use crate::battery_probes::{C_PRELUDE, Kind, Probe};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The C source of the probe binary: every `Kind::C` body as `p_NAME`, and a `main` that
/// runs the one named by `argv[1]`.
pub fn c_source(all: &[Probe]) -> String {
    let mut src = C_PRELUDE.to_string();
    for p in all {
        if let Kind::C(body) = p.kind {
            src.push_str(&format!("static int p_{}(void) {{ {body} }}\n", p.name));
        }
    }
    src.push_str("int main(int argc, char **argv) {\n  setvbuf(stdout, 0, _IONBF, 0);\n  if (argc < 2) return 2;\n");
    for p in all {
        if let Kind::C(_) = p.kind {
            src.push_str(&format!("  if (!strcmp(argv[1], \"{0}\")) return p_{0}();\n", p.name));
        }
    }
    src.push_str("  return 2;\n}\n");
    src
}

/// Compiles `src` on the host into `out`.
pub fn compile(src: &str, dir: &Path, out: &Path) {
    let c = dir.join("probes.c");
    std::fs::write(&c, src).expect("write probes.c");
    let gcc = Command::new("/usr/bin/gcc").args(["-O1", "-w", "-o"]).arg(out).arg(&c).output().expect("run gcc");
    assert!(gcc.status.success(), "compiling the probes:\n{}", String::from_utf8_lossy(&gcc.stderr));
}

pub fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).expect("mkdir");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Gives a tree to `uid:gid` (lchown, symlinks not followed).
pub fn chown_tree(p: &Path, (uid, gid): (u32, u32)) {
    for e in walkdir::WalkDir::new(p) {
        let e = e.expect("walk");
        std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid)).expect("lchown");
    }
}

/// The listeners; stopped and joined when dropped.
pub struct Listeners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the host services the network probes try to reach (127.0.0.1 only, bounded),
/// and records where they are in `vars`.
pub fn start_listeners(base: &Path, vars: &mut BTreeMap<String, String>) -> Listeners {
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut threads = Vec::new();

    let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp bind");
    tcp.set_nonblocking(true).expect("nonblocking");
    vars.insert("PROBE_TCP_PORT".into(), tcp.local_addr().expect("addr").port().to_string());
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            match tcp.accept() {
                Ok((mut c, _)) => {
                    let _ = c.write_all(b"yoe-banner\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }));

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    udp.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    vars.insert("PROBE_UDP_PORT".into(), udp.local_addr().expect("addr").port().to_string());
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            if let Ok((n, from)) = udp.recv_from(&mut buf)
                && &buf[..n] == b"ping"
                && from.ip().is_loopback()
            {
                let _ = udp.send_to(b"pong", from);
            }
        }
    }));

    let name = format!("yoe-battery-{}", std::process::id());
    let abs = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract"))
        .expect("abstract bind");
    vars.insert("PROBE_ABSTRACT".into(), name);
    let path = base.join("host.sock");
    let pathl = UnixListener::bind(&path).expect("unix bind");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod sock");
    vars.insert("PROBE_UNIX_PATH".into(), path.display().to_string());
    for l in [abs, pathl] {
        l.set_nonblocking(true).expect("nonblocking");
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.write_all(b"yoe-banner\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }
    Listeners { stop, threads }
}

/// The first 24 characters of the host's pid 1 command line (the probe compares).
pub fn host_init() -> String {
    std::fs::read("/proc/1/cmdline")
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").chars().take(24).collect())
        .expect("host pid 1 cmdline")
}

/// A block device of the host that root can open.
pub fn block_device() -> &'static str {
    ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda", "/dev/loop0"]
        .into_iter()
        .find(|d| std::fs::File::open(d).is_ok())
        .expect("a block device on the host")
}

/// `(uid, gid)` of a system user, created with useradd when missing.
pub fn ensure_user(name: &str) -> (u32, u32) {
    yoe::sandbox::user::ensure_system_user(name).unwrap_or_else(|e| panic!("user {name}: {e}"))
}

/// A process the kill probe aims at, owned by `ids` (root when `None`). Killed on drop.
pub struct Victim(Child);

impl Victim {
    pub fn spawn(ids: Option<(u32, u32)>) -> Victim {
        let mut c = Command::new("/usr/bin/sleep");
        c.arg("600").env_clear().stdin(Stdio::null());
        if let Some((u, g)) = ids {
            c.uid(u).gid(g);
        }
        Victim(c.spawn().expect("victim"))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Whether it died (the oracle of the kill probe).
    pub fn dead(&mut self) -> bool {
        self.0.try_wait().map(|s| s.is_some()).unwrap_or(true)
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
