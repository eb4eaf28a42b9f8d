//! Fetching bytes for the store: http(s) with timeouts, retries with backoff, a size limit
//! and no transparent decompression; `file://` URLs confined to the project (a unit may not
//! read arbitrary host files). Runs no user code; trusts nothing it receives.
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub connect_timeout: Duration,
    /// A read that waits longer than this fails (a stalled server).
    pub read_timeout: Duration,
    /// Attempts per URL for transient failures (network errors, 5xx, 408, 429).
    pub attempts: u32,
    /// First delay between attempts; doubled each time.
    pub backoff: Duration,
    /// Largest accepted download.
    pub max_bytes: u64,
    /// PEM file of the only CA certificates to trust for https (`YOE_CA_CERTS`); `None`
    /// trusts the Mozilla roots built into yoe.
    pub ca_certs: Option<std::path::PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_bytes: 8 << 30,
            ca_certs: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16, transient: bool },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {message}")]
    File { url: String, message: String },
}

impl FetchError {
    fn transient(&self) -> bool {
        match self {
            FetchError::Status { transient, .. } => *transient,
            FetchError::Network { .. } => true,
            FetchError::TooLarge { .. } | FetchError::File { .. } => false,
        }
    }
}

/// Copy at most `limit` bytes from `r` to `w`; more is an error.
fn copy_limited(url: &str, r: &mut dyn Read, w: &mut dyn Write, limit: u64) -> Result<u64, FetchError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| FetchError::Network { url: url.into(), message: e.to_string() })?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if total > limit {
            return Err(FetchError::TooLarge { url: url.into(), limit });
        }
        w.write_all(&buf[..n])
            .map_err(|e| FetchError::Network { url: url.into(), message: format!("writing: {e}") })?;
    }
}

/// Fetch `url` into `out`. `file_root` confines `file://` URLs. `reset` truncates `out`
/// before a retry. Returns the byte count.
pub fn fetch(
    url: &str,
    opts: &FetchOptions,
    file_root: &Path,
    out: &mut dyn Write,
    reset: &mut dyn FnMut() -> std::io::Result<()>,
) -> Result<u64, FetchError> {
    if let Some(path) = url.strip_prefix("file://") {
        return fetch_file(url, Path::new(path), file_root, opts, out);
    }
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &opts.ca_certs {
        let pem = std::fs::read(path).map_err(|e| FetchError::Network {
            url: url.into(),
            message: format!("reading CA certificates {}: {e}", path.display()),
        })?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(FetchError::Network {
                url: url.into(),
                message: format!("{} holds no PEM certificate", path.display()),
            });
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .max_redirects(5)
        .http_status_as_error(false)
        .user_agent(format!("yoe/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut delay = opts.backoff;
    let mut last = None;
    for attempt in 1..=opts.attempts.max(1) {
        if attempt > 1 {
            reset().map_err(|e| FetchError::Network {
                url: url.into(),
                message: format!("resetting the download: {e}"),
            })?;
            std::thread::sleep(delay);
            delay *= 2;
        }
        let result = (|| {
            let resp =
                agent.get(url).call().map_err(|e| FetchError::Network { url: url.into(), message: e.to_string() })?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(FetchError::Status {
                    url: url.into(),
                    status,
                    transient: status >= 500 || status == 408 || status == 429,
                });
            }
            let mut body = resp.into_body();
            let mut reader = body.with_config().limit(opts.max_bytes.saturating_add(1)).reader();
            copy_limited(url, &mut reader, out, opts.max_bytes)
        })();
        match result {
            Ok(n) => return Ok(n),
            Err(e) if e.transient() => {
                tracing::warn!(attempt, "fetching {url} failed: {e}");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| FetchError::Network { url: url.into(), message: "no attempt was made".into() }))
}

fn fetch_file(
    url: &str,
    path: &Path,
    root: &Path,
    opts: &FetchOptions,
    out: &mut dyn Write,
) -> Result<u64, FetchError> {
    let err = |m: String| FetchError::File { url: url.into(), message: m };
    if !path.is_absolute() {
        return Err(err("a file:// URL needs an absolute path".into()));
    }
    let real = path.canonicalize().map_err(|e| err(e.to_string()))?;
    let root = root.canonicalize().map_err(|e| err(e.to_string()))?;
    if !real.starts_with(&root) {
        return Err(err(format!(
            "resolves to {}, outside the project {}; file:// sources must live in the project",
            real.display(),
            root.display()
        )));
    }
    if !real.is_file() {
        return Err(err("not a regular file".into()));
    }
    let mut f = std::fs::File::open(&real).map_err(|e| err(e.to_string()))?;
    copy_limited(url, &mut f, out, opts.max_bytes)
}
