//! A tiny HTTP/1.1 server on 127.0.0.1 for fetch tests: each path serves fixed bytes, wrong
//! bytes, a truncated body, a redirect, a status, or stalls. Counts hits per path.
#![allow(dead_code)]
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
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
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", l.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (routes.clone(), hits.clone(), stop.clone());
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((stream, _)) => {
                        let (r, h) = (r.clone(), h.clone());
                        std::thread::spawn(move || handle(stream, &r, &h));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { base, routes, hits, stop }
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

fn handle(stream: TcpStream, routes: &Mutex<HashMap<String, Reply>>, hits: &Mutex<HashMap<String, usize>>) {
    stream.set_nonblocking(false).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
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
    let mut s = stream;
    let _ = match reply {
        Reply::Bytes(b) => send(&mut s, 200, &b, b.len()),
        Reply::Truncated { body, len } => send(&mut s, 200, &body, len),
        Reply::Redirect(to) => {
            write!(s, "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
        Reply::Status(code) => send(&mut s, code, b"", 0),
        Reply::Stall(d) => {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nabc");
            let _ = s.flush();
            std::thread::sleep(d);
            Ok(())
        }
        Reply::FlakyThen(k, b) => {
            if n <= k {
                send(&mut s, 503, b"", 0)
            } else {
                send(&mut s, 200, &b, b.len())
            }
        }
    };
}

fn send(s: &mut TcpStream, code: u16, body: &[u8], len: usize) -> std::io::Result<()> {
    write!(s, "HTTP/1.1 {code} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")?;
    s.write_all(body)?;
    s.flush()
}
