//! The JSON manifest: `{"version": 1, "entries": [{"type": ..., "path": ..., ...}, ...]}`.
//! Unknown fields are errors, so that a typo never silently drops an ownership or mode.

use serde_json::{Map, Value};

use super::value::{parse_bytes_value, parse_dev, parse_mode, parse_sha256, parse_timestamp};
use super::{EntryRef, Fields, Location, Manifest, ManifestError};

pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let top: Value = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
    let Value::Object(mut top) = top else {
        return Err(ManifestError::Top("top level must be an object with `entries`".into()));
    };
    if let Some(v) = top.remove("version")
        && v.as_u64() != Some(1)
    {
        return Err(ManifestError::Top(format!("unsupported version {v} (expected 1)")));
    }
    let Some(entries) = top.remove("entries") else {
        return Err(ManifestError::Top("missing `entries`".into()));
    };
    if let Some(k) = top.keys().next() {
        return Err(ManifestError::Top(format!("unknown field `{k}` (expected version, entries)")));
    }
    let Value::Array(entries) = entries else {
        return Err(ManifestError::Top("`entries` must be an array".into()));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, v) in entries.into_iter().enumerate() {
        let at = Location::Index(i);
        let Value::Object(obj) = v else {
            return Err(ManifestError::Entry {
                entry: EntryRef { at, path: Vec::new() },
                msg: "must be an object".into(),
            });
        };
        let path = obj.get("path").and_then(Value::as_str).map(|s| s.as_bytes().to_vec()).unwrap_or_default();
        let fields = fields(obj)
            .map_err(|msg| ManifestError::Entry { entry: EntryRef { at: at.clone(), path: path.clone() }, msg })?;
        let entry = fields
            .into_entry(at.clone())
            .map_err(|(path, msg)| ManifestError::Entry { entry: EntryRef { at, path }, msg })?;
        out.push(entry);
    }
    Ok(Manifest { entries: out })
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v.as_str().map(str::to_owned).ok_or_else(|| format!("`{key}` must be a string"))
}

fn u32_field(v: &Value, key: &str) -> Result<u32, String> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("`{key}` must be an integer in 0..=4294967295"))
}

fn fields(obj: Map<String, Value>) -> Result<Fields, String> {
    let mut f = Fields::default();
    for (key, v) in obj {
        let k = key.as_str();
        match k {
            "type" => f.kind = Some(string(&v, k)?),
            "path" => f.path = Some(string(&v, k)?.into_bytes()),
            "mode" => {
                f.mode = Some(match &v {
                    Value::String(s) => parse_mode(s)?,
                    Value::Number(n) => match n.as_u64() {
                        Some(m) if m <= 0o7777 => m as u16,
                        _ => {
                            return Err(format!("mode {n} is not in 0..=4095 (0o7777); write octal modes as strings"));
                        }
                    },
                    _ => {
                        return Err("`mode` must be an octal string like \"0755\" or an integer".into());
                    }
                })
            }
            "uid" => f.uid = Some(u32_field(&v, k)?),
            "gid" => f.gid = Some(u32_field(&v, k)?),
            "mtime" | "atime" | "ctime" => {
                let t = match &v {
                    Value::String(s) => parse_timestamp(s)?,
                    Value::Number(n) => {
                        let secs = n
                            .as_i64()
                            .ok_or_else(|| format!("`{k}` must be whole seconds or a \"SECONDS.NANOS\" string"))?;
                        parse_timestamp(&secs.to_string())?
                    }
                    _ => return Err(format!("`{k}` must be a number or a string")),
                };
                match k {
                    "mtime" => f.mtime = Some(t),
                    "atime" => f.atime = Some(t),
                    _ => f.ctime = Some(t),
                }
            }
            "src" => f.src = Some(string(&v, k)?.into_bytes()),
            "sha256" => f.sha256 = Some(parse_sha256(&string(&v, k)?)?),
            "content" => {
                f.data = Some(parse_bytes_value(string(&v, k)?.as_bytes()).map_err(|e| format!("`content`: {e}"))?)
            }
            "size" => f.size = Some(v.as_u64().ok_or("`size` must be a non-negative integer")?),
            "target" => f.target = Some(string(&v, k)?.into_bytes()),
            "major" => f.major = Some(u32_field(&v, k)?),
            "minor" => f.minor = Some(u32_field(&v, k)?),
            "dev" => {
                let (ma, mi) = parse_dev(&string(&v, k)?)?;
                f.major = Some(ma);
                f.minor = Some(mi);
            }
            "xattrs" => {
                let Value::Object(map) = v else {
                    return Err("`xattrs` must be an object of name: \"text:...\" or \"hex:...\"".into());
                };
                for (name, val) in map {
                    let s = val.as_str().ok_or_else(|| format!("xattr `{name}` must be a string"))?;
                    let bytes = parse_bytes_value(s.as_bytes()).map_err(|e| format!("xattr `{name}`: {e}"))?;
                    f.xattrs.push((name.into_bytes(), bytes));
                }
            }
            other => {
                return Err(format!(
                    "unknown field `{}` (expected type, path, mode, uid, gid, mtime, atime, ctime, src, sha256, content, size, target, major, minor, dev, xattrs)",
                    other.escape_debug()
                ));
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Kind, Manifest};

    #[test]
    fn parses_every_kind() {
        let m = Manifest::parse(
            br#"{"version":1,"entries":[
            {"type":"dir","path":"/etc","mode":"0755","uid":0,"gid":0,"mtime":5},
            {"type":"file","path":"/etc/motd","content":"text:hi\n","mode":420,"xattrs":{"user.a":"hex:00ff"}},
            {"type":"symlink","path":"/etc/l","target":"motd"},
            {"type":"hardlink","path":"/etc/h","target":"/etc/motd"},
            {"type":"char","path":"/etc/c","dev":"5:1"},
            {"type":"block","path":"/etc/b","major":8,"minor":0},
            {"type":"fifo","path":"/etc/f"},
            {"type":"socket","path":"/etc/s","ctime":"1.25"}]}"#,
            Format::Json,
        )
        .unwrap();
        assert_eq!(m.entries.len(), 8);
        assert!(matches!(m.entries[4].kind, Kind::CharDev { major: 5, minor: 1 }));
        assert_eq!(m.entries[1].mode, Some(0o644));
        assert_eq!(m.entries[1].xattrs, vec![(b"user.a".to_vec(), vec![0, 255])]);
    }

    #[test]
    fn errors_name_the_entry() {
        let e = Manifest::parse(
            br#"{"entries":[{"type":"dir","path":"/a"},{"type":"dir","path":"/b","uid":-1}]}"#,
            Format::Json,
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("entry 1") && s.contains("/b") && s.contains("uid"), "{s}");
        let e =
            Manifest::parse(br#"{"entries":[{"type":"file","path":"/x","target":"y"}]}"#, Format::Json).unwrap_err();
        assert!(e.to_string().contains("`target` is only for"), "{e}");
        let e =
            Manifest::parse(br#"{"entries":[{"type":"dir","path":"/x","owner":"0:0"}]}"#, Format::Json).unwrap_err();
        assert!(e.to_string().contains("unknown field `owner`"), "{e}");
    }
}
