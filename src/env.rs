//! Every environment variable yoe reads, documented in one place; the only module that
//! calls `std::env::var`. Nothing read here reaches a build step's environment.

/// Project directory (same as `--project`).
pub const YOE_PROJECT: &str = "YOE_PROJECT";
/// Log filter for `tracing` (e.g. `debug`, `yoe=trace`); `-v` raises the default.
pub const YOE_LOG: &str = "YOE_LOG";
/// Cache directory (modules, sources); default `$XDG_CACHE_HOME/yoe` or `~/.cache/yoe`.
pub const YOE_CACHE: &str = "YOE_CACHE";
/// Path to the sandbox helper binary (development override).
pub const YOE_SANDBOX_HELPER: &str = "YOE_SANDBOX_HELPER";
/// PEM file of the only CA certificates trusted for https sources (default: Mozilla's).
pub const YOE_CA_CERTS: &str = "YOE_CA_CERTS";
/// Set by CI systems; under CI, `--allow-unpinned` is refused.
pub const CI: &str = "CI";

/// Read a variable; empty counts as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether we run under CI (`CI` set to anything but `false`/`0`).
pub fn in_ci() -> bool {
    var(CI).is_some_and(|v| v != "false" && v != "0")
}

/// Reproducible-build timestamp for steps: `SOURCE_DATE_EPOCH` if set and valid, else
/// 1980-01-01 (the earliest date every archive format can store).
pub fn source_date_epoch() -> u64 {
    var("SOURCE_DATE_EPOCH").and_then(|v| v.parse().ok()).unwrap_or(315_532_800)
}

/// The git program used to fetch modules (development override; default `git` on `PATH`).
pub const YOE_GIT: &str = "YOE_GIT";

/// yoe's cache directory: `$YOE_CACHE`, else `$XDG_CACHE_HOME/yoe`, else `~/.cache/yoe`,
/// else `.yoe-cache` in the current directory.
pub fn cache_dir() -> std::path::PathBuf {
    if let Some(c) = var(YOE_CACHE) {
        return std::path::PathBuf::from(c);
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        return std::path::PathBuf::from(x).join("yoe");
    }
    match var("HOME") {
        Some(h) => std::path::PathBuf::from(h).join(".cache/yoe"),
        None => std::path::PathBuf::from(".yoe-cache"),
    }
}

/// The git program for module fetches: `$YOE_GIT`, else `git` (found on `PATH`).
pub fn git_program() -> std::path::PathBuf {
    var(YOE_GIT).map(std::path::PathBuf::from).unwrap_or_else(|| "git".into())
}

/// Variables handed to git when it fetches modules; everything else is cleared. `PATH`
/// (to find git's helpers), proxies, and TLS trust-store overrides, as set on the host.
pub fn git_passthrough() -> Vec<(&'static str, String)> {
    const NAMES: &[&str] = &[
        "PATH",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
    ];
    NAMES.iter().filter_map(|n| var(n).map(|v| (*n, v))).collect()
}
