//! `yoe-audit.toml` at the project root: suppressions (`[[ignore]]`), hash-pinned exceptions
//! (`[[allow-binary]]`, `[[allow-setuid]]`) and the network allow-list. Only the project's
//! file is read: a module's own `yoe-audit.toml` is never applied. Unknown keys are errors.
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const FILE_NAME: &str = "yoe-audit.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    #[serde(default)]
    pub ignore: Vec<Ignore>,
    #[serde(default)]
    pub allow_binary: Vec<AllowBinary>,
    #[serde(default)]
    pub allow_setuid: Vec<AllowSetuid>,
    #[serde(default)]
    pub network: Network,
    /// Where it was read from (empty when there is none).
    #[serde(skip)]
    pub path: PathBuf,
    /// The line of each `[[ignore]]` entry (for unused-suppression spans).
    #[serde(skip)]
    pub ignore_lines: Vec<u32>,
}

/// `[[ignore]] rule, path, line?, reason, expires?`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    pub rule: String,
    /// Relative to the project root.
    pub path: String,
    pub line: Option<u32>,
    #[serde(default)]
    pub reason: String,
    /// `YYYY-MM-DD` (a TOML date or a string); the entry stops applying after that day.
    pub expires: Option<toml::Value>,
}

/// `[[allow-binary]] module, path, sha256`: a binary file that may be committed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowBinary {
    /// Module name; empty or absent for the project itself.
    #[serde(default)]
    pub module: String,
    /// Relative to the module (or project) root.
    pub path: String,
    pub sha256: String,
}

/// `[[allow-setuid]] unit, path, sha256`: a setuid/setgid file a unit may install.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSetuid {
    pub unit: String,
    /// Path inside the unit's destdir, e.g. `/bin/busybox`.
    pub path: String,
    pub sha256: String,
}

/// `[network] allow = ["unit", ...]`: units allowed to ask for network.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub allow: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Read `<root>/yoe-audit.toml` if it exists.
    pub fn load(root: &Path) -> Result<Config, ConfigError> {
        let path = root.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(ConfigError::Io { path, message: e.to_string() }),
        };
        Self::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
        for (i, ig) in c.ignore.iter().enumerate() {
            if let Some(e) = &ig.expires
                && expiry(e).is_none()
            {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("[[ignore]] entry {}: `expires` must be a date YYYY-MM-DD, got {e}", i + 1),
                });
            }
        }
        c.path = path.to_path_buf();
        // The line of each `[[ignore]]` header, in order.
        c.ignore_lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("[[ignore]]"))
            .map(|(i, _)| i as u32 + 1)
            .collect();
        Ok(c)
    }
}

/// A civil date (year, month, day).
pub type Date = (i32, u32, u32);

/// The expiry date of an entry, from a TOML date or a `YYYY-MM-DD` string.
pub fn expiry(v: &toml::Value) -> Option<Date> {
    let s = match v {
        toml::Value::Datetime(d) => {
            let date = d.date?;
            return Some((i32::from(date.year), u32::from(date.month), u32::from(date.day)));
        }
        toml::Value::String(s) => s.as_str(),
        _ => return None,
    };
    let mut it = s.splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Today's date (UTC).
pub fn today() -> Date {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    civil_from_days((secs / 86_400) as i64)
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn parses_entries_and_rejects_unknown_keys() {
        let c = Config::parse(
            Path::new("yoe-audit.toml"),
            "[[ignore]]\nrule = \"x\"\npath = \"a.star\"\nreason = \"r\"\nexpires = 2030-01-02\n\n[network]\nallow = [\"go\"]\n",
        )
        .unwrap();
        assert_eq!(c.ignore_lines, [1]);
        assert_eq!(expiry(c.ignore[0].expires.as_ref().unwrap()), Some((2030, 1, 2)));
        assert_eq!(c.network.allow, ["go"]);
        assert!(Config::parse(Path::new("y"), "[[ignore]]\nrule=\"x\"\npath=\"a\"\nreson=\"typo\"\n").is_err());
        assert!(Config::parse(Path::new("y"), "[[ignore]]\nrule=\"x\"\npath=\"a\"\nexpires=\"soon\"\n").is_err());
    }
}
