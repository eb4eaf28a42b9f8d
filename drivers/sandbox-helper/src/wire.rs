//! The helper's policy wire format: what the outer `yoe` encodes and the in-sandbox helper
//! decodes. Trusts nothing in the bytes: every length is bounded and every enum checked.
//!
//! Layout (all integers little-endian), framed as `u32 body_len` + body:
//!
//! ```text
//! body    = MAGIC(8) landlock seccomp rlimits
//! landlock= u32 min_abi, u32 target_abi, u8 net_flags, u8 scope_flags,
//!           u32 n, n × (u64 access, u8 optional, bytes path)
//! seccomp = u8 x32_guard, u32 n, n × (i64 nr, u32 errno, u32 n_alt,
//!           n_alt × (u32 n_cond, n_cond × (u8 arg, u8 width, u8 op, u64 mask, u64 value)))
//! rlimits = u32 n, n × (u32 resource, u64 soft, u64 hard)
//! bytes   = u32 len, len × u8
//! ```
//!
//! The format is versioned by its magic; a helper only accepts the exact version it was
//! built with, so a stale helper next to a newer `yoe` fails closed instead of guessing.

use std::io::Read;

/// First bytes of every encoded policy body (format version 1).
pub const MAGIC: [u8; 8] = *b"YOESBX\x00\x01";
/// Upper bound for an encoded body; real policies are a few KiB.
pub const MAX_BODY: u32 = 1 << 20;
/// Upper bound for any list in the format.
const MAX_ITEMS: u32 = 4096;
/// Upper bound for one path.
const MAX_PATH: u32 = 4096;

/// Landlock network restrictions (bit flags in `Landlock::net`).
pub const NET_DENY_BIND_TCP: u8 = 1 << 0;
/// See [`NET_DENY_BIND_TCP`].
pub const NET_DENY_CONNECT_TCP: u8 = 1 << 1;
/// Landlock scopes (bit flags in `Landlock::scopes`).
pub const SCOPE_ABSTRACT_UNIX: u8 = 1 << 0;
/// See [`SCOPE_ABSTRACT_UNIX`].
pub const SCOPE_SIGNAL: u8 = 1 << 1;

/// Everything the helper applies before it execs the step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelperPolicy {
    pub landlock: Landlock,
    pub seccomp: Seccomp,
    pub rlimits: Vec<Rlimit>,
}

/// The Landlock layer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Landlock {
    /// The helper refuses to run the step on a kernel whose Landlock ABI is lower.
    pub min_abi: u32,
    /// The ABI whose access rights are handled (best effort above `min_abi`).
    pub target_abi: u32,
    /// `NET_*` flags.
    pub net: u8,
    /// `SCOPE_*` flags.
    pub scopes: u8,
    /// Paths (as seen inside the sandbox) and the rights granted beneath them.
    pub rules: Vec<FsRule>,
}

/// One Landlock path rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRule {
    /// Raw `LANDLOCK_ACCESS_FS_*` bits (see [`crate::rights`]).
    pub access: u64,
    /// A missing optional path is skipped; a missing required one fails the layer.
    pub optional: bool,
    pub path: Vec<u8>,
}

/// The seccomp layer: syscalls that fail with an errno.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seccomp {
    /// Return EPERM for every syscall number at or above the x32 bit (x86_64 only).
    pub x32_guard: bool,
    pub rules: Vec<SyscallRule>,
}

/// A syscall that returns `errno` when any alternative matches (all when `when` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRule {
    pub nr: i64,
    pub errno: u32,
    /// OR of alternatives; each alternative is an AND of conditions.
    pub when: Vec<Vec<ArgCond>>,
}

/// A condition on one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCond {
    /// Argument index, 0..=5.
    pub arg: u8,
    /// 4 (compare the low 32 bits) or 8.
    pub width: u8,
    pub op: CmpOp,
    /// Only used by [`CmpOp::MaskedEq`]: `(arg & mask) == value`.
    pub mask: u64,
    pub value: u64,
}

/// Comparison operators understood by the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Ne = 1,
    MaskedEq = 2,
    Ge = 3,
    Gt = 4,
    Le = 5,
    Lt = 6,
}

/// One resource limit (`RLIMIT_*` number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// Why a policy could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("policy is truncated while reading {0}")]
    Truncated(&'static str),
    #[error("policy does not start with the expected magic (wrong helper version?)")]
    BadMagic,
    #[error("policy field {field} is out of range: {value}")]
    OutOfRange { field: &'static str, value: u64 },
    #[error("policy has {0} trailing bytes")]
    Trailing(usize),
    #[error("could not read the policy: {0}")]
    Io(String),
}

impl HelperPolicy {
    /// Encodes the policy body (without the length frame).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(2048));
        w.0.extend_from_slice(&MAGIC);
        let l = &self.landlock;
        w.u32(l.min_abi);
        w.u32(l.target_abi);
        w.u8(l.net);
        w.u8(l.scopes);
        w.len(l.rules.len());
        for r in &l.rules {
            w.u64(r.access);
            w.u8(u8::from(r.optional));
            w.bytes(&r.path);
        }
        w.u8(u8::from(self.seccomp.x32_guard));
        w.len(self.seccomp.rules.len());
        for r in &self.seccomp.rules {
            w.u64(r.nr as u64);
            w.u32(r.errno);
            w.len(r.when.len());
            for alt in &r.when {
                w.len(alt.len());
                for c in alt {
                    w.u8(c.arg);
                    w.u8(c.width);
                    w.u8(c.op as u8);
                    w.u64(c.mask);
                    w.u64(c.value);
                }
            }
        }
        w.len(self.rlimits.len());
        for r in &self.rlimits {
            w.u32(r.resource);
            w.u64(r.soft);
            w.u64(r.hard);
        }
        w.0
    }

    /// Encodes the policy with its `u32` length frame, ready to be written to the helper.
    pub fn encode_framed(&self) -> Vec<u8> {
        let body = self.encode();
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a policy body. Rejects anything malformed, out of range or trailing.
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader { buf: body, pos: 0 };
        if r.take(MAGIC.len(), "magic")? != MAGIC {
            return Err(WireError::BadMagic);
        }
        let min_abi = r.u32("landlock.min_abi")?;
        let target_abi = r.u32("landlock.target_abi")?;
        if min_abi > 64 || target_abi > 64 || target_abi < min_abi {
            return Err(WireError::OutOfRange { field: "landlock.target_abi", value: u64::from(target_abi) });
        }
        let net = r.u8("landlock.net")?;
        let scopes = r.u8("landlock.scopes")?;
        let n = r.len("landlock.rules")?;
        let mut rules = Vec::with_capacity(n);
        for _ in 0..n {
            let access = r.u64("landlock.rule.access")?;
            let optional = r.bool("landlock.rule.optional")?;
            let path = r.bytes("landlock.rule.path", MAX_PATH)?.to_vec();
            if path.first() != Some(&b'/') || path.contains(&0) {
                return Err(WireError::OutOfRange { field: "landlock.rule.path", value: path.len() as u64 });
            }
            rules.push(FsRule { access, optional, path });
        }
        let x32_guard = r.bool("seccomp.x32_guard")?;
        let n = r.len("seccomp.rules")?;
        let mut srules = Vec::with_capacity(n);
        for _ in 0..n {
            let nr = r.u64("seccomp.rule.nr")? as i64;
            if !(0..1 << 31).contains(&nr) {
                return Err(WireError::OutOfRange { field: "seccomp.rule.nr", value: nr as u64 });
            }
            let errno = r.u32("seccomp.rule.errno")?;
            if errno == 0 || errno > 4095 {
                return Err(WireError::OutOfRange { field: "seccomp.rule.errno", value: u64::from(errno) });
            }
            let n_alt = r.len("seccomp.rule.when")?;
            let mut when = Vec::with_capacity(n_alt);
            for _ in 0..n_alt {
                let n_cond = r.len("seccomp.rule.when.conds")?;
                if n_cond == 0 || n_cond > 6 {
                    return Err(WireError::OutOfRange { field: "seccomp.rule.when.conds", value: n_cond as u64 });
                }
                let mut alt = Vec::with_capacity(n_cond);
                for _ in 0..n_cond {
                    let arg = r.u8("seccomp.cond.arg")?;
                    let width = r.u8("seccomp.cond.width")?;
                    let op = r.u8("seccomp.cond.op")?;
                    let mask = r.u64("seccomp.cond.mask")?;
                    let value = r.u64("seccomp.cond.value")?;
                    if arg > 5 {
                        return Err(WireError::OutOfRange { field: "seccomp.cond.arg", value: u64::from(arg) });
                    }
                    if width != 4 && width != 8 {
                        return Err(WireError::OutOfRange { field: "seccomp.cond.width", value: u64::from(width) });
                    }
                    let op = CmpOp::from_u8(op)
                        .ok_or(WireError::OutOfRange { field: "seccomp.cond.op", value: u64::from(op) })?;
                    alt.push(ArgCond { arg, width, op, mask, value });
                }
                when.push(alt);
            }
            srules.push(SyscallRule { nr, errno, when });
        }
        let n = r.len("rlimits")?;
        let mut rlimits = Vec::with_capacity(n);
        for _ in 0..n {
            let resource = r.u32("rlimit.resource")?;
            let soft = r.u64("rlimit.soft")?;
            let hard = r.u64("rlimit.hard")?;
            if resource > 64 || soft > hard {
                return Err(WireError::OutOfRange { field: "rlimit", value: u64::from(resource) });
            }
            rlimits.push(Rlimit { resource, soft, hard });
        }
        if r.pos != body.len() {
            return Err(WireError::Trailing(body.len() - r.pos));
        }
        Ok(HelperPolicy {
            landlock: Landlock { min_abi, target_abi, net, scopes, rules },
            seccomp: Seccomp { x32_guard, rules: srules },
            rlimits,
        })
    }

    /// Reads one framed policy from `input` (exactly the frame, nothing after it).
    pub fn read_framed(input: &mut impl Read) -> Result<Self, WireError> {
        let mut len = [0u8; 4];
        input.read_exact(&mut len).map_err(|e| WireError::Io(e.to_string()))?;
        let len = u32::from_le_bytes(len);
        if len > MAX_BODY {
            return Err(WireError::OutOfRange { field: "frame length", value: u64::from(len) });
        }
        let mut body = vec![0u8; len as usize];
        input.read_exact(&mut body).map_err(|e| WireError::Io(e.to_string()))?;
        Self::decode(&body)
    }
}

impl CmpOp {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => CmpOp::Eq,
            1 => CmpOp::Ne,
            2 => CmpOp::MaskedEq,
            3 => CmpOp::Ge,
            4 => CmpOp::Gt,
            5 => CmpOp::Le,
            6 => CmpOp::Lt,
            _ => return None,
        })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(WireError::Truncated(what))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    fn bool(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(WireError::OutOfRange { field: what, value: u64::from(v) }),
        }
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len(&mut self, what: &'static str) -> Result<usize, WireError> {
        let n = self.u32(what)?;
        if n > MAX_ITEMS {
            return Err(WireError::OutOfRange { field: what, value: u64::from(n) });
        }
        Ok(n as usize)
    }
    fn bytes(&mut self, what: &'static str, max: u32) -> Result<&'a [u8], WireError> {
        let n = self.u32(what)?;
        if n > max {
            return Err(WireError::OutOfRange { field: what, value: u64::from(n) });
        }
        self.take(n as usize, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HelperPolicy {
        HelperPolicy {
            landlock: Landlock {
                min_abi: 6,
                target_abi: 7,
                net: NET_DENY_BIND_TCP | NET_DENY_CONNECT_TCP,
                scopes: SCOPE_SIGNAL,
                rules: vec![FsRule { access: 0b111, optional: true, path: b"/usr".to_vec() }],
            },
            seccomp: Seccomp {
                x32_guard: true,
                rules: vec![
                    SyscallRule { nr: 165, errno: 1, when: vec![] },
                    SyscallRule {
                        nr: 90,
                        errno: 1,
                        when: vec![vec![ArgCond {
                            arg: 1,
                            width: 4,
                            op: CmpOp::MaskedEq,
                            mask: 0o4000,
                            value: 0o4000,
                        }]],
                    },
                ],
            },
            rlimits: vec![Rlimit { resource: 4, soft: 0, hard: 0 }],
        }
    }

    #[test]
    fn roundtrip() {
        let p = sample();
        assert_eq!(HelperPolicy::decode(&p.encode()), Ok(p.clone()));
        let framed = p.encode_framed();
        assert_eq!(HelperPolicy::read_framed(&mut &framed[..]), Ok(p));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(HelperPolicy::decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
    }

    #[test]
    fn trailing_and_magic_are_checked() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(HelperPolicy::decode(&bytes), Err(WireError::Trailing(1)));
        let mut bytes = sample().encode();
        bytes[7] = 2;
        assert_eq!(HelperPolicy::decode(&bytes), Err(WireError::BadMagic));
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let mut p = sample();
        p.seccomp.rules[1].when[0][0].arg = 6;
        assert!(HelperPolicy::decode(&p.encode()).is_err());
        let mut p = sample();
        p.landlock.rules[0].path = b"relative".to_vec();
        assert!(HelperPolicy::decode(&p.encode()).is_err());
        let mut p = sample();
        p.rlimits[0].soft = 5;
        assert!(HelperPolicy::decode(&p.encode()).is_err());
    }
}
