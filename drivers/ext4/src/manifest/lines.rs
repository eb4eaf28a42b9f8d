//! The compact line format: one entry per line, `TYPE PATH key=value ...`, fields separated
//! by spaces or tabs, `#` starts a comment line. In PATH and values, `\\` is a backslash and
//! `\xNN` any byte (write a space as `\x20`). Same fields and rules as the JSON format.

use super::value::{parse_bytes_value, parse_dev, parse_mode, parse_sha256, parse_timestamp, parse_u32, parse_u64};
use super::{EntryRef, Fields, Location, Manifest, ManifestError};

pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let mut entries = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut tokens = raw.split(|b| *b == b' ' || *b == b'\t').filter(|t| !t.is_empty());
        let Some(kind) = tokens.next() else { continue };
        if kind.starts_with(b"#") {
            continue;
        }
        let err = |msg: String| ManifestError::Line { line, msg };
        let kind = std::str::from_utf8(kind).map_err(|_| err("entry type is not text".into()))?;
        let path = tokens.next().ok_or_else(|| err(format!("`{kind}` needs a path")))?;
        let path = unescape(path).map_err(&err)?;
        let err = |msg: String| ManifestError::Entry {
            entry: EntryRef { at: Location::Line(line), path: path.clone() },
            msg,
        };
        let mut f = Fields { kind: Some(kind.to_owned()), path: Some(path.clone()), ..Fields::default() };
        for tok in tokens {
            let eq = tok
                .iter()
                .position(|&b| b == b'=')
                .ok_or_else(|| err(format!("`{}` is not key=value", String::from_utf8_lossy(tok))))?;
            let key = std::str::from_utf8(&tok[..eq]).map_err(|_| err("key is not text".into()))?;
            let value = unescape(&tok[eq + 1..]).map_err(&err)?;
            field(&mut f, key, value).map_err(|m| err(format!("`{key}`: {m}")))?;
        }
        let entry = f.into_entry(Location::Line(line)).map_err(|(_, msg)| err(msg))?;
        entries.push(entry);
    }
    Ok(Manifest { entries })
}

fn text(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|_| "value is not text".to_string())
}

fn field(f: &mut Fields, key: &str, v: Vec<u8>) -> Result<(), String> {
    match key {
        "mode" => f.mode = Some(parse_mode(text(&v)?)?),
        "uid" => f.uid = Some(parse_u32(text(&v)?, "uid")?),
        "gid" => f.gid = Some(parse_u32(text(&v)?, "gid")?),
        "owner" => {
            let s = text(&v)?;
            let (u, g) = s.split_once(':').ok_or("owner must be UID:GID")?;
            f.uid = Some(parse_u32(u, "uid")?);
            f.gid = Some(parse_u32(g, "gid")?);
        }
        "mtime" => f.mtime = Some(parse_timestamp(text(&v)?)?),
        "atime" => f.atime = Some(parse_timestamp(text(&v)?)?),
        "ctime" => f.ctime = Some(parse_timestamp(text(&v)?)?),
        "src" => f.src = Some(v),
        "sha256" => f.sha256 = Some(parse_sha256(text(&v)?)?),
        "content" => f.data = Some(parse_bytes_value(&v)?),
        "size" => f.size = Some(parse_u64(text(&v)?, "size")?),
        "target" => f.target = Some(v),
        "major" => f.major = Some(parse_u32(text(&v)?, "major")?),
        "minor" => f.minor = Some(parse_u32(text(&v)?, "minor")?),
        "dev" => {
            let (a, b) = parse_dev(text(&v)?)?;
            f.major = Some(a);
            f.minor = Some(b);
        }
        _ => match key.strip_prefix("xattr.") {
            Some(name) if !name.is_empty() => f.xattrs.push((unescape(name.as_bytes())?, parse_bytes_value(&v)?)),
            _ => {
                return Err(
                    "unknown key (expected mode, uid, gid, owner, mtime, atime, ctime, src, sha256, content, size, target, dev, major, minor, xattr.NAME)"
                        .into(),
                );
            }
        },
    }
    Ok(())
}

/// Undo `\\` and `\xNN` escapes.
pub fn unescape(t: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] != b'\\' {
            out.push(t[i]);
            i += 1;
            continue;
        }
        match t.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = t.get(i + 2..i + 4).ok_or("`\\x` needs two hex digits")?;
                let b = super::value::parse_hex(hex).ok_or("`\\x` needs two hex digits")?;
                out.extend_from_slice(&b);
                i += 4;
            }
            _ => return Err("unknown escape (use `\\\\` or `\\xNN`)".into()),
        }
    }
    Ok(out)
}

/// Escape bytes for the line format (the inverse of `unescape`).
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            // `=` separates keys from values.
            b'=' => s.push_str("\\x3d"),
            b'!'..=b'~' => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Kind, Manifest};
    use super::*;

    #[test]
    fn parses_lines_with_escapes_and_comments() {
        let m = Manifest::parse(
            b"# a comment\n\ndir / mode=0755\nfile /a\\x20b mode=4755 owner=1:2 content=hex:0102 xattr.security.capability=hex:01\r\nchar /c dev=4:64\nhardlink /h target=/a\\x20b\n",
            Format::Lines,
        )
        .unwrap();
        assert_eq!(m.entries.len(), 4);
        assert_eq!(m.entries[1].path, b"/a b");
        assert_eq!(m.entries[1].uid, Some(1));
        assert_eq!(m.entries[1].mode, Some(0o4755));
        assert!(matches!(m.entries[2].kind, Kind::CharDev { major: 4, minor: 64 }));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Manifest::parse(b"dir /\nfile /x mode=999\n", Format::Lines).unwrap_err();
        assert!(e.to_string().starts_with("line 2 `/x`:"), "{e}");
        let e = Manifest::parse(b"dir /\nbogus /x\n", Format::Lines).unwrap_err();
        assert!(e.to_string().contains("unknown type"), "{e}");
    }

    #[test]
    fn escape_round_trips() {
        let b: Vec<u8> = (0..=255u8).collect();
        assert_eq!(unescape(escape(&b).as_bytes()).unwrap(), b);
    }
}
