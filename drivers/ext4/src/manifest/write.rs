//! Writes manifests back out, in both syntaxes, so that code which records ownership (package
//! builds) can produce what the parsers read. `parse(to_lines(m))` gives back `m` (up to entry
//! locations), and so does `parse(to_json(m))` when all paths and names are UTF-8.

use serde_json::{Map, Value, json};

use super::lines::escape;
use super::{Entry, Kind, Manifest};
use crate::format::Timestamp;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("{0}: JSON manifests hold UTF-8 paths, targets and xattr names only; use the line format")]
    NotUtf8(String),
}

fn time(t: Timestamp) -> String {
    // The inverse of `parse_timestamp`: negative times with nanoseconds count back from zero.
    if t.nanos == 0 {
        t.secs.to_string()
    } else if t.secs < 0 {
        let (s, n) = (t.secs + 1, 1_000_000_000 - t.nanos);
        format!("-{}.{n:09}", s.unsigned_abs())
    } else {
        format!("{}.{:09}", t.secs, t.nanos)
    }
}

fn bytes_value(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("text:{s}"),
        _ => format!("hex:{}", v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Manifest {
    /// The line format.
    pub fn to_lines(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(e.kind.name());
            out.push(' ');
            out.push_str(&escape(&e.path));
            let mut kv = |k: &str, v: String| {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                out.push_str(&v);
            };
            if let Some(m) = e.mode {
                kv("mode", format!("{m:04o}"));
            }
            if let Some(u) = e.uid {
                kv("uid", u.to_string());
            }
            if let Some(g) = e.gid {
                kv("gid", g.to_string());
            }
            for (k, t) in [("mtime", e.mtime), ("atime", e.atime), ("ctime", e.ctime)] {
                if let Some(t) = t {
                    kv(k, time(t));
                }
            }
            match &e.kind {
                Kind::File(c) => {
                    if let Some(s) = &c.src {
                        kv("src", escape(s));
                    }
                    if let Some(h) = &c.sha256 {
                        kv("sha256", hex(h));
                    }
                    if let Some(d) = &c.data {
                        kv("content", escape(bytes_value(d).as_bytes()));
                    }
                    if let Some(n) = c.size {
                        kv("size", n.to_string());
                    }
                }
                Kind::Symlink { target } | Kind::HardLink { target } => kv("target", escape(target)),
                Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => {
                    kv("dev", format!("{major}:{minor}"))
                }
                Kind::Dir | Kind::Fifo | Kind::Socket => {}
            }
            for (name, value) in &e.xattrs {
                kv(&format!("xattr.{}", escape(name)), escape(bytes_value(value).as_bytes()));
            }
            out.push('\n');
        }
        out
    }

    /// The JSON format.
    pub fn to_json(&self) -> Result<String, WriteError> {
        let entries = self.entries.iter().map(entry_json).collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::to_string_pretty(&json!({"version": 1, "entries": entries})).unwrap_or_default())
    }
}

fn utf8<'a>(e: &Entry, b: &'a [u8]) -> Result<&'a str, WriteError> {
    std::str::from_utf8(b).map_err(|_| WriteError::NotUtf8(e.entry_ref().to_string()))
}

fn entry_json(e: &Entry) -> Result<Value, WriteError> {
    let mut o = Map::new();
    o.insert("type".into(), e.kind.name().into());
    o.insert("path".into(), utf8(e, &e.path)?.into());
    if let Some(m) = e.mode {
        o.insert("mode".into(), format!("{m:04o}").into());
    }
    if let Some(u) = e.uid {
        o.insert("uid".into(), u.into());
    }
    if let Some(g) = e.gid {
        o.insert("gid".into(), g.into());
    }
    for (k, t) in [("mtime", e.mtime), ("atime", e.atime), ("ctime", e.ctime)] {
        if let Some(t) = t {
            o.insert(k.into(), time(t).into());
        }
    }
    match &e.kind {
        Kind::File(c) => {
            if let Some(s) = &c.src {
                o.insert("src".into(), utf8(e, s)?.into());
            }
            if let Some(h) = &c.sha256 {
                o.insert("sha256".into(), hex(h).into());
            }
            if let Some(d) = &c.data {
                o.insert("content".into(), bytes_value(d).into());
            }
            if let Some(n) = c.size {
                o.insert("size".into(), n.into());
            }
        }
        Kind::Symlink { target } | Kind::HardLink { target } => {
            o.insert("target".into(), utf8(e, target)?.into());
        }
        Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => {
            o.insert("dev".into(), format!("{major}:{minor}").into());
        }
        Kind::Dir | Kind::Fifo | Kind::Socket => {}
    }
    if !e.xattrs.is_empty() {
        let mut x = Map::new();
        for (name, value) in &e.xattrs {
            x.insert(utf8(e, name)?.to_owned(), bytes_value(value).into());
        }
        o.insert("xattrs".into(), Value::Object(x));
    }
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{Entry, FileContent, Format, Kind, Location, Manifest};
    use crate::format::Timestamp;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..max)
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Dir),
            (
                proptest::option::of(bytes(20)),
                proptest::option::of(any::<[u8; 32]>()),
                proptest::option::of(any::<u64>())
            )
                .prop_map(|(src, sha256, size)| Kind::File(FileContent { src, sha256, data: None, size })),
            proptest::collection::vec(any::<u8>(), 0..50).prop_map(|d| Kind::File(FileContent {
                size: Some(d.len() as u64),
                data: Some(d),
                ..FileContent::default()
            })),
            bytes(30).prop_map(|target| Kind::Symlink { target }),
            (0u32..=0xfff, 0u32..=0xfffff).prop_map(|(major, minor)| Kind::CharDev { major, minor }),
            (0u32..=0xfff, 0u32..=0xfffff).prop_map(|(major, minor)| Kind::BlockDev { major, minor }),
            Just(Kind::Fifo),
            Just(Kind::Socket),
        ]
    }

    fn time() -> impl Strategy<Value = Timestamp> {
        (Timestamp::MIN_SECS..=Timestamp::MAX_SECS, prop_oneof![Just(0u32), 0u32..1_000_000_000])
            .prop_map(|(secs, nanos)| Timestamp { secs, nanos })
    }

    fn entry() -> impl Strategy<Value = Entry> {
        prop_oneof![
            4 => (
                bytes(30),
                kind(),
                proptest::option::of(0u16..=0o7777),
                proptest::option::of(any::<u32>()),
                proptest::option::of(any::<u32>()),
                proptest::option::of(time()),
                proptest::option::of(time()),
                proptest::option::of(time()),
                proptest::collection::vec((bytes(20), proptest::collection::vec(any::<u8>(), 0..40)), 0..3),
            )
                .prop_map(|(path, kind, mode, uid, gid, mtime, atime, ctime, xattrs)| Entry {
                    at: Location::Implicit,
                    path,
                    kind,
                    mode,
                    uid,
                    gid,
                    mtime,
                    atime,
                    ctime,
                    xattrs,
                }),
            1 => (bytes(30), bytes(30)).prop_map(|(path, target)| Entry {
                at: Location::Implicit,
                path,
                kind: Kind::HardLink { target },
                mode: None,
                uid: None,
                gid: None,
                mtime: None,
                atime: None,
                ctime: None,
                xattrs: Vec::new(),
            }),
        ]
    }

    fn strip(mut m: Manifest) -> Manifest {
        for e in &mut m.entries {
            e.at = Location::Implicit;
            e.xattrs.sort();
        }
        m
    }

    proptest! {
        #[test]
        fn line_format_round_trips(entries in proptest::collection::vec(entry(), 0..8)) {
            let m = Manifest { entries };
            let text = m.to_lines();
            let back = Manifest::parse(text.as_bytes(), Format::Lines).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(strip(back), strip(m));
        }

        #[test]
        fn json_round_trips_for_utf8(entries in proptest::collection::vec(entry(), 0..8)) {
            let m = Manifest { entries };
            if let Ok(text) = m.to_json() {
                let back = Manifest::parse(text.as_bytes(), Format::Json).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                let mut want = strip(m);
                // JSON objects hold one value per xattr name.
                for e in &mut want.entries {
                    e.xattrs.dedup_by(|a, b| a.0 == b.0);
                }
                let mut got = strip(back);
                for e in &mut got.entries {
                    e.xattrs.dedup_by(|a, b| a.0 == b.0);
                }
                prop_assert_eq!(got.entries.len(), want.entries.len());
                for (g, w) in got.entries.iter().zip(&want.entries) {
                    prop_assert_eq!(&g.kind, &w.kind);
                    prop_assert_eq!((&g.path, g.mode, g.uid, g.gid, g.mtime, g.atime, g.ctime), (&w.path, w.mode, w.uid, w.gid, w.mtime, w.atime, w.ctime));
                    let gn: Vec<_> = g.xattrs.iter().map(|x| &x.0).collect();
                    let wn: Vec<_> = w.xattrs.iter().map(|x| &x.0).collect();
                    prop_assert_eq!(gn, wn);
                }
            }
        }
    }
}
