//! A tiny HTTP/1.1 server on 127.0.0.1 for fetch tests: each path serves fixed bytes, wrong
//! bytes, a truncated body, a redirect, a status, or stalls. Counts hits per path.
#![allow(dead_code)]
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub enum Reply {
    Bytes(Vec<u8>),
    /// Claims `len` bytes but sends only `body`, then closes.
    Truncated {
        body: Vec<u8>,
        len: usize,
    },
    Redirect(String),
    Status(u16),
    /// Sends headers and part of the body, then waits this long.
    Stall(Duration),
    /// Fails with 503 `n` times, then serves the bytes.
    FlakyThen(usize, Vec<u8>),
}

pub struct Server {
    pub base: String,
    /// For TLS servers: a PEM file with the (self-signed) certificate to trust.
    pub ca_pem: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(None)
    }

    /// An https server with a self-signed certificate for 127.0.0.1 made now.
    pub fn start_tls() -> Server {
        let ck =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("cert");
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, ck.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let cfg =
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![ck.cert.der().clone()], key)
                .unwrap();
        let mut s = Self::start_with(Some(Arc::new(cfg)));
        s.ca_pem = Some(pem);
        s._dir = Some(dir);
        s
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", l.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (routes.clone(), hits.clone(), stop.clone());
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((stream, _)) => {
                        let (r, h, tls) = (r.clone(), h.clone(), tls.clone());
                        std::thread::spawn(move || {
                            stream.set_nonblocking(false).ok();
                            match tls {
                                None => handle(stream, &r, &h),
                                Some(cfg) => {
                                    let Ok(conn) = rustls::ServerConnection::new(cfg) else { return };
                                    handle(rustls::StreamOwned::new(conn, stream), &r, &h)
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { base, ca_pem: None, _dir: None, routes, hits, stop }
    }

    pub fn route(&self, path: &str, reply: Reply) -> String {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
        format!("{}{path}", self.base)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn handle<S: Read + Write>(stream: S, routes: &Mutex<HashMap<String, Reply>>, hits: &Mutex<HashMap<String, usize>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let n = {
        let mut hm = hits.lock().unwrap();
        let e = hm.entry(path.clone()).or_default();
        *e += 1;
        *e
    };
    let reply = routes.lock().unwrap().get(&path).cloned().unwrap_or(Reply::Status(404));
    let s = reader.get_mut();
    let _ = match reply {
        Reply::Bytes(b) => send(s, 200, &b, b.len()),
        Reply::Truncated { body, len } => send(s, 200, &body, len),
        Reply::Redirect(to) => {
            write!(s, "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
        Reply::Status(code) => send(s, code, b"", 0),
        Reply::Stall(d) => {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nabc");
            let _ = s.flush();
            std::thread::sleep(d);
            Ok(())
        }
        Reply::FlakyThen(k, b) => {
            if n <= k {
                send(s, 503, b"", 0)
            } else {
                send(s, 200, &b, b.len())
            }
        }
    };
}

fn send<S: Write>(s: &mut S, code: u16, body: &[u8], len: usize) -> std::io::Result<()> {
    write!(s, "HTTP/1.1 {code} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")?;
    s.write_all(body)?;
    s.flush()
}
