//! The step policy: `policies/step.toml` parsed once into typed, validated structs, its
//! sha256 for cache keys, and its translation into the helper's wire policy. Trusts the
//! TOML only after validation (every name, path, number and template is checked).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use yoe_sandbox_helper::rights;
use yoe_sandbox_helper::syscalls::{self, Lookup};
use yoe_sandbox_helper::wire;

/// The policy text compiled into yoe.
pub const EMBEDDED_STEP_POLICY: &str = include_str!("../../policies/step.toml");

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid TOML for the step policy schema: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("policy version {0} is not supported (expected 1)")]
    Version(u32),
    #[error("policy landlock: {0}")]
    Landlock(String),
    #[error("policy seccomp rule {index}: {message}")]
    Seccomp { index: usize, message: String },
    #[error("policy rlimit {name}: {message}")]
    Rlimit { name: String, message: String },
    #[error("policy env: {0}")]
    Env(String),
}

/// A validated step policy.
#[derive(Debug, Clone)]
pub struct Policy {
    sha256: [u8; 32],
    helper: wire::HelperPolicy,
    /// Size of the private /tmp tmpfs in bytes.
    pub tmp_size: u64,
    /// Variable names a unit's `environment` may not set.
    pub reserved_env: Vec<String>,
    /// The environment contract, by name (sorted).
    pub env: BTreeMap<String, Template>,
    /// Landlock minimum ABI (also in the helper policy), for `yoe doctor`.
    pub landlock_min_abi: u32,
}

/// An environment value with placeholders filled in by yoe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Segment>);

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// The values yoe can put into the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Nproc,
    Arch,
    Machine,
    Distro,
    SourceDateEpoch,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "nproc" => Placeholder::Nproc,
            "arch" => Placeholder::Arch,
            "machine" => Placeholder::Machine,
            "distro" => Placeholder::Distro,
            "source_date_epoch" => Placeholder::SourceDateEpoch,
            _ => return None,
        })
    }
}

impl Template {
    /// Parses `text`, where `{name}` is a placeholder and `{{`/`}}` are literal braces.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segs = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!("unterminated placeholder in {text:?}"));
                    }
                    let p = Placeholder::parse(&name)
                        .ok_or_else(|| format!("unknown placeholder {{{name}}} in {text:?}"))?;
                    if !lit.is_empty() {
                        segs.push(Segment::Literal(std::mem::take(&mut lit)));
                    }
                    segs.push(Segment::Placeholder(p));
                }
                '}' => return Err(format!("unmatched }} in {text:?}")),
                '\0' => return Err(format!("NUL byte in {text:?}")),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            segs.push(Segment::Literal(lit));
        }
        Ok(Template(segs))
    }
}

// ---- raw schema -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    landlock: RawLandlock,
    seccomp: RawSeccomp,
    rlimits: BTreeMap<String, RawLimit>,
    mounts: RawMounts,
    env: RawEnv,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLandlock {
    min_abi: u32,
    target_abi: u32,
    deny_net: Vec<String>,
    scopes: Vec<String>,
    classes: BTreeMap<String, Vec<String>>,
    rule: Vec<RawFsRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFsRule {
    path: String,
    class: Option<String>,
    rights: Option<Vec<String>>,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeccomp {
    x32_guard: bool,
    rule: Vec<RawSeccompRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeccompRule {
    errno: String,
    syscalls: Vec<String>,
    when_all: Option<Vec<RawCond>>,
    when_any: Option<Vec<RawCond>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCond {
    arg: u8,
    width: u8,
    op: String,
    #[serde(default)]
    mask: u64,
    value: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    soft: u64,
    hard: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMounts {
    tmp_size: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    reserved: Vec<String>,
    vars: BTreeMap<String, String>,
}

// ---- validation -------------------------------------------------------------------------

fn errno_of(name: &str) -> Option<u32> {
    Some(match name {
        "EPERM" => libc::EPERM,
        "EACCES" => libc::EACCES,
        "ENOSYS" => libc::ENOSYS,
        "EOPNOTSUPP" | "ENOTSUP" => libc::EOPNOTSUPP,
        _ => return None,
    } as u32)
}

#[allow(clippy::unnecessary_cast)] // RLIMIT_* is c_uint on glibc, c_int on musl
fn rlimit_of(name: &str) -> Option<u32> {
    Some(match name {
        "core" => libc::RLIMIT_CORE,
        "nproc" => libc::RLIMIT_NPROC,
        "nofile" => libc::RLIMIT_NOFILE,
        "fsize" => libc::RLIMIT_FSIZE,
        "as" => libc::RLIMIT_AS,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "stack" => libc::RLIMIT_STACK,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        _ => return None,
    } as u32)
}

/// Whether `name` is a portable environment variable name.
pub fn is_env_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// Whether `path` is absolute, normalized and free of NUL (a sandbox-side path).
pub fn is_clean_abs(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains('\0')
        && (path == "/"
            || (!path.ends_with('/') && path[1..].split('/').all(|c| !c.is_empty() && c != "." && c != "..")))
}

fn cond(c: &RawCond) -> Result<wire::ArgCond, String> {
    let op = match c.op.as_str() {
        "eq" => wire::CmpOp::Eq,
        "ne" => wire::CmpOp::Ne,
        "masked_eq" => wire::CmpOp::MaskedEq,
        "ge" => wire::CmpOp::Ge,
        "gt" => wire::CmpOp::Gt,
        "le" => wire::CmpOp::Le,
        "lt" => wire::CmpOp::Lt,
        other => return Err(format!("unknown op {other:?}")),
    };
    let width = match c.width {
        32 => 4,
        64 => 8,
        w => return Err(format!("width must be 32 or 64, got {w}")),
    };
    if c.arg > 5 {
        return Err(format!("arg must be 0..=5, got {}", c.arg));
    }
    if op != wire::CmpOp::MaskedEq && c.mask != 0 {
        return Err("mask is only meaningful with op = \"masked_eq\"".into());
    }
    if width == 4 && (c.value > u64::from(u32::MAX) || c.mask > u64::from(u32::MAX)) {
        return Err(format!("value {:#x} does not fit width 32", c.value));
    }
    Ok(wire::ArgCond { arg: c.arg, width, op, mask: c.mask, value: c.value })
}

impl Policy {
    /// Parses and validates a policy text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let raw: Raw = toml::from_str(text)?;
        if raw.version != 1 {
            return Err(PolicyError::Version(raw.version));
        }
        let landlock = Self::landlock(&raw.landlock).map_err(PolicyError::Landlock)?;
        let seccomp = Self::seccomp(&raw.seccomp)?;
        let mut rlimits = Vec::new();
        for (name, l) in &raw.rlimits {
            let resource = rlimit_of(name)
                .ok_or_else(|| PolicyError::Rlimit { name: name.clone(), message: "unknown resource".into() })?;
            if l.soft > l.hard {
                return Err(PolicyError::Rlimit {
                    name: name.clone(),
                    message: format!("soft {} is above hard {}", l.soft, l.hard),
                });
            }
            rlimits.push(wire::Rlimit { resource, soft: l.soft, hard: l.hard });
        }
        let mut env = BTreeMap::new();
        for (name, value) in &raw.env.vars {
            if !is_env_name(name) {
                return Err(PolicyError::Env(format!("invalid variable name {name:?}")));
            }
            env.insert(name.clone(), Template::parse(value).map_err(PolicyError::Env)?);
        }
        for name in &raw.env.reserved {
            if !env.contains_key(name) {
                return Err(PolicyError::Env(format!("reserved variable {name} has no value in [env.vars]")));
            }
        }
        if raw.mounts.tmp_size < 1 << 20 {
            return Err(PolicyError::Landlock("mounts.tmp_size must be at least 1 MiB".into()));
        }
        Ok(Policy {
            sha256: Sha256::digest(text.as_bytes()).into(),
            landlock_min_abi: landlock.min_abi,
            helper: wire::HelperPolicy { landlock, seccomp, rlimits },
            tmp_size: raw.mounts.tmp_size,
            reserved_env: raw.env.reserved,
            env,
        })
    }

    fn landlock(raw: &RawLandlock) -> Result<wire::Landlock, String> {
        if raw.min_abi < 1 || raw.target_abi < raw.min_abi {
            return Err(format!("need 1 <= min_abi ({}) <= target_abi ({})", raw.min_abi, raw.target_abi));
        }
        if raw.target_abi > 10 {
            return Err(format!("target_abi {} is unknown", raw.target_abi));
        }
        let mut net = 0;
        for n in &raw.deny_net {
            net |= match n.as_str() {
                "bind_tcp" => wire::NET_DENY_BIND_TCP,
                "connect_tcp" => wire::NET_DENY_CONNECT_TCP,
                other => return Err(format!("unknown deny_net entry {other:?}")),
            };
        }
        if net != 0 && raw.min_abi < 4 {
            return Err("deny_net needs min_abi >= 4".into());
        }
        let mut scopes = 0;
        for s in &raw.scopes {
            scopes |= match s.as_str() {
                "abstract_unix_socket" => wire::SCOPE_ABSTRACT_UNIX,
                "signal" => wire::SCOPE_SIGNAL,
                other => return Err(format!("unknown scope {other:?}")),
            };
        }
        if scopes != 0 && raw.min_abi < 6 {
            return Err("scopes need min_abi >= 6".into());
        }
        let bits_of = |names: &[String], what: &str| -> Result<u64, String> {
            names.iter().try_fold(0u64, |acc, n| {
                rights::fs_right(n).map(|b| acc | b).ok_or_else(|| format!("unknown right {n:?} in {what}"))
            })
        };
        let mut classes = BTreeMap::new();
        for (name, rights) in &raw.classes {
            classes.insert(name.as_str(), bits_of(rights, name)?);
        }
        let mut rules = Vec::new();
        for r in &raw.rule {
            if !is_clean_abs(&r.path) {
                return Err(format!("rule path {:?} is not a clean absolute path", r.path));
            }
            let access = match (&r.class, &r.rights) {
                (Some(c), None) => {
                    *classes.get(c.as_str()).ok_or_else(|| format!("rule {}: unknown class {c:?}", r.path))?
                }
                (None, Some(list)) => bits_of(list, &r.path)?,
                _ => {
                    return Err(format!("rule {}: give exactly one of class, rights", r.path));
                }
            };
            if access == 0 {
                return Err(format!("rule {} grants nothing", r.path));
            }
            rules.push(wire::FsRule { access, optional: r.optional, path: r.path.as_bytes().to_vec() });
        }
        Ok(wire::Landlock { min_abi: raw.min_abi, target_abi: raw.target_abi, net, scopes, rules })
    }

    fn seccomp(raw: &RawSeccomp) -> Result<wire::Seccomp, PolicyError> {
        let mut rules = Vec::new();
        for (index, r) in raw.rule.iter().enumerate() {
            let err = |message: String| PolicyError::Seccomp { index, message };
            let errno = errno_of(&r.errno).ok_or_else(|| err(format!("unknown errno {:?}", r.errno)))?;
            let when: Vec<Vec<wire::ArgCond>> = match (&r.when_all, &r.when_any) {
                (None, None) => Vec::new(),
                (Some(all), None) if !all.is_empty() && all.len() <= 6 => {
                    vec![all.iter().map(cond).collect::<Result<_, _>>().map_err(err)?]
                }
                (None, Some(any)) if !any.is_empty() => {
                    any.iter().map(|c| cond(c).map(|c| vec![c])).collect::<Result<_, _>>().map_err(err)?
                }
                _ => {
                    return Err(err("give at most one of when_all (1 to 6 conditions), when_any (1 or more)".into()));
                }
            };
            if r.syscalls.is_empty() {
                return Err(err("lists no syscalls".into()));
            }
            for name in &r.syscalls {
                match syscalls::lookup(name) {
                    Lookup::Nr(nr) => rules.push(wire::SyscallRule { nr, errno, when: when.clone() }),
                    Lookup::Absent => {}
                    Lookup::Unknown => return Err(err(format!("unknown syscall {name:?}"))),
                }
            }
        }
        Ok(wire::Seccomp { x32_guard: raw.x32_guard, rules })
    }

    /// The sha256 of the policy text.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The sha256 of the policy text, lower-case hex (for cache keys and provenance).
    pub fn hash_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What the in-sandbox helper applies.
    pub fn helper_policy(&self) -> &wire::HelperPolicy {
        &self.helper
    }
}

/// The policy compiled into this binary, parsed once.
///
/// # Panics
/// Only if the compiled-in `policies/step.toml` is invalid, which the test
/// `embedded_policy_parses` rules out at build time.
pub fn embedded() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| match Policy::parse(EMBEDDED_STEP_POLICY) {
        Ok(p) => p,
        Err(e) => panic!("the embedded policies/step.toml is invalid: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policy_parses() {
        let p = Policy::parse(EMBEDDED_STEP_POLICY).expect("embedded policy");
        assert_eq!(p.hash_hex().len(), 64);
        assert!(p.helper_policy().landlock.min_abi >= 6);
        let bytes = p.helper_policy().encode();
        assert_eq!(wire::HelperPolicy::decode(&bytes).as_ref(), Ok(p.helper_policy()));
    }

    #[test]
    fn every_policy_file_parses_and_compiles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("policies dir") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n == "load.toml") {
                // The load policy (src/starlark/limits.rs), not a step policy.
                let text = std::fs::read_to_string(&path).expect("read");
                crate::starlark::LoadLimits::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            } else if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).expect("read");
                let p = Policy::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                yoe_sandbox_helper::layers::seccomp::compile(&p.helper_policy().seccomp)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn hash_changes_with_the_text() {
        let a = Policy::parse(EMBEDDED_STEP_POLICY).expect("parse");
        let b = Policy::parse(&format!("{EMBEDDED_STEP_POLICY}\n# x\n")).expect("parse");
        assert_ne!(a.hash_hex(), b.hash_hex());
        assert_eq!(a.hash_hex(), embedded().hash_hex());
    }

    #[test]
    fn bad_policies_are_refused_with_the_field() {
        let cases = [
            ("\"mount\"", "\"mount2\"", "unknown syscall"),
            ("min_abi = 6", "min_abi = 5", "scopes need"),
            ("class = \"read_exec\"\n", "class = \"nope\"\n", "unknown class"),
            ("errno = \"ENOSYS\"", "errno = \"EWHAT\"", "unknown errno"),
            ("NPROC = \"{nproc}\"", "NPROC = \"{nprocs}\"", "unknown placeholder"),
            ("path = \"/usr\"", "path = \"/usr/../etc\"", "clean absolute"),
            ("core = {", "cores = {", "unknown resource"),
            ("version = 1", "version = 1\nextra = 1", "unknown field"),
        ];
        for (from, to, want) in cases {
            assert!(EMBEDDED_STEP_POLICY.contains(from), "{from}");
            let text = EMBEDDED_STEP_POLICY.replacen(from, to, 1);
            let err = Policy::parse(&text).expect_err(to).to_string();
            assert!(err.contains(want), "{to}: {err}");
        }
    }

    #[test]
    fn templates() {
        assert_eq!(
            Template::parse("a{nproc}{{b}}").expect("ok").0,
            vec![
                Segment::Literal("a".into()),
                Segment::Placeholder(Placeholder::Nproc),
                Segment::Literal("{b}".into())
            ]
        );
        assert!(Template::parse("}").is_err());
        assert!(Template::parse("{x}").is_err());
        assert!(Template::parse("{nproc").is_err());
    }

    #[test]
    fn clean_paths() {
        for ok in ["/", "/usr", "/build/src"] {
            assert!(is_clean_abs(ok), "{ok}");
        }
        for bad in ["", "usr", "/usr/", "/a//b", "/a/./b", "/a/..", "/a\0"] {
            assert!(!is_clean_abs(bad), "{bad:?}");
        }
    }
}
