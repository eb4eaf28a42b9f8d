//! Syntax of individual manifest values (modes, times, byte strings, hashes, numbers), shared
//! by the JSON and line parsers. Input is untrusted text; errors say what was expected.

use crate::format::Timestamp;

/// Octal permission bits, `0755` or `4755`; at most `7777`.
pub fn parse_mode(s: &str) -> Result<u16, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!("mode `{}` is not an octal number", s.escape_debug()));
    }
    let v = u32::from_str_radix(digits, 8).map_err(|e| format!("mode `{s}`: {e}"))?;
    if v > 0o7777 {
        return Err(format!("mode `{s}` has bits beyond 07777 (the file type comes from `type`)"));
    }
    Ok(v as u16)
}

/// A timestamp: `SECONDS` or `SECONDS.FRACTION` (up to 9 fraction digits), seconds may be
/// negative. Range 1901..2446, what ext4 stores.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let bad = || format!("time `{}` is not SECONDS[.NANOSECONDS]", s.escape_debug());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = int.strip_prefix('-').unwrap_or(int);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = int.parse().map_err(|_| bad())?;
    let nanos = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u32 = f.parse().map_err(|_| bad())?;
            n * 10u32.pow(9 - f.len() as u32)
        }
    };
    // "-1.5" means 1.5 s before the epoch: -2 s plus 0.5 s, as `struct timespec` holds it.
    let (secs, nanos) =
        if int.starts_with('-') && nanos > 0 { (secs - 1, 1_000_000_000 - nanos) } else { (secs, nanos) };
    Timestamp::new(secs, nanos).ok_or_else(|| {
        format!("time `{s}` is outside what ext4 stores ({} ..= {})", Timestamp::MIN_SECS, Timestamp::MAX_SECS)
    })
}

/// A byte string: `text:...` (the bytes as written) or `hex:...` (pairs of hex digits).
pub fn parse_bytes_value(s: &[u8]) -> Result<Vec<u8>, String> {
    if let Some(t) = s.strip_prefix(b"text:") {
        Ok(t.to_vec())
    } else if let Some(h) = s.strip_prefix(b"hex:") {
        parse_hex(h).ok_or_else(|| "`hex:` value must be an even number of hex digits".to_string())
    } else {
        Err("value must start with `text:` or `hex:`".into())
    }
}

pub fn parse_hex(h: &[u8]) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    h.chunks_exact(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

pub fn parse_sha256(s: &str) -> Result<[u8; 32], String> {
    let bad = || format!("sha256 `{}` is not 64 hex digits", s.escape_debug());
    let v = parse_hex(s.as_bytes()).ok_or_else(bad)?;
    v.try_into().map_err(|_| bad())
}

pub fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{}` is not a number", s.escape_debug()));
    }
    s.parse().map_err(|_| format!("{what} `{s}` is out of range (0..=4294967295)"))
}

pub fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{}` is not a number", s.escape_debug()));
    }
    s.parse().map_err(|_| format!("{what} `{s}` is out of range"))
}

/// `MAJOR:MINOR`.
pub fn parse_dev(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once(':').ok_or_else(|| format!("device `{}` is not MAJOR:MINOR", s.escape_debug()))?;
    Ok((parse_u32(a, "major")?, parse_u32(b, "minor")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("4755"), Ok(0o4755));
        assert_eq!(parse_mode("0o7777"), Ok(0o7777));
        assert!(parse_mode("10000").is_err());
        assert!(parse_mode("0758").is_err());
        assert!(parse_mode("").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_timestamp("12").unwrap(), Timestamp { secs: 12, nanos: 0 });
        assert_eq!(parse_timestamp("12.5").unwrap(), Timestamp { secs: 12, nanos: 500_000_000 });
        assert_eq!(parse_timestamp("-3.000000001").unwrap(), Timestamp { secs: -4, nanos: 999_999_999 });
        assert_eq!(parse_timestamp("-0.5").unwrap(), Timestamp { secs: -1, nanos: 500_000_000 });
        assert!(parse_timestamp("99999999999").is_err());
        assert!(parse_timestamp("1.").is_err());
        assert!(parse_timestamp("1.0000000001").is_err());
        assert!(parse_timestamp("x").is_err());
    }

    #[test]
    fn byte_values() {
        assert_eq!(parse_bytes_value(b"text:a b").unwrap(), b"a b");
        assert_eq!(parse_bytes_value(b"hex:00ff").unwrap(), vec![0, 255]);
        assert!(parse_bytes_value(b"hex:0").is_err());
        assert!(parse_bytes_value(b"0x00").is_err());
    }
}
