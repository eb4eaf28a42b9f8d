//! Module signatures: a minisign signature, at `.yoe/module.minisig` in the module, over the
//! statement `yoe module tree sha256:<hex>\n` (the module's tree hash, which leaves the
//! signature file out). Verified with `minisign-verify` against the project's trusted keys
//! (`project(trusted_keys=[…])`: base64 public keys or paths to minisign `.pub` files);
//! signing (`yoe module sign`) uses the `minisign` crate. It trusts only those keys.
use std::path::{Path, PathBuf};

use super::manifest::{Manifest, SIGNATURE_PATH};

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("project(): trusted_keys entry {entry:?}: {why}")]
    BadKey { entry: String, why: String },
    #[error("signing: {why}")]
    Sign { why: String },
    #[error("{}: {why}", path.display())]
    Io { path: PathBuf, why: String },
}

/// The exact bytes a module signature signs.
pub fn statement(tree: &str) -> String {
    format!("yoe module tree {tree}\n")
}

/// A public key the project trusts, with where it was declared.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// minisign key id (16 upper-case hex digits, as `minisign` prints it).
    pub id: String,
    pub origin: String,
    key: minisign_verify::PublicKey,
}

#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    pub keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// Parse `project(trusted_keys=[…])`: each entry is a base64 minisign public key
    /// (`RW…`) or a path, relative to the project root, of a minisign `.pub` file.
    pub fn parse(root: &Path, entries: &[String]) -> Result<TrustedKeys, SignatureError> {
        let mut keys = Vec::new();
        for entry in entries {
            let bad = |why: String| SignatureError::BadKey { entry: entry.clone(), why };
            let trimmed = entry.trim();
            let (key, b64) = if looks_like_key(trimmed) {
                let k = minisign_verify::PublicKey::from_base64(trimmed).map_err(|e| bad(e.to_string()))?;
                (k, trimmed.to_string())
            } else {
                let path = root.join(trimmed);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| bad(format!("neither a base64 minisign key nor a readable key file ({e})")))?;
                let k =
                    minisign_verify::PublicKey::decode(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
                let b64 = text.lines().nth(1).unwrap_or_default().trim().to_string();
                (k, b64)
            };
            let id = key_id(&b64).ok_or_else(|| bad("cannot read the key id".into()))?;
            keys.push(TrustedKey { id, origin: entry.clone(), key });
        }
        Ok(TrustedKeys { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn looks_like_key(s: &str) -> bool {
    s.len() == 56
        && s.starts_with("RW")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// What a module's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// No signature file.
    Unsigned,
    /// A valid signature by a trusted key.
    Trusted { key_id: String, origin: String },
    /// Signed by a key the project does not trust (not verified: the key is unknown).
    Untrusted { key_id: String },
    /// A signature file that is malformed or does not verify with the key it names.
    Bad { why: String },
}

impl SignatureState {
    pub fn word(&self) -> &'static str {
        match self {
            SignatureState::Unsigned => "unsigned",
            SignatureState::Trusted { .. } => "signed",
            SignatureState::Untrusted { .. } => "untrusted",
            SignatureState::Bad { .. } => "bad",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SignatureState::Unsigned => format!("unsigned (no {SIGNATURE_PATH})"),
            SignatureState::Trusted { key_id, origin } => {
                format!("signed by trusted key {key_id} ({})", shorten(origin))
            }
            SignatureState::Untrusted { key_id } => {
                format!("signed by key {key_id}, which is not in project(trusted_keys=)")
            }
            SignatureState::Bad { why } => format!("bad signature: {why}"),
        }
    }
}

fn shorten(s: &str) -> String {
    if s.len() > 24 { format!("{}…", &s[..20]) } else { s.to_string() }
}

/// Check the signature of the module in `module_dir`, whose tree hash is `tree` (already
/// verified against the lock).
pub fn check(module_dir: &Path, tree: &str, keys: &TrustedKeys) -> SignatureState {
    let path = module_dir.join(SIGNATURE_PATH);
    let text = match read_small(&path) {
        Ok(None) => return SignatureState::Unsigned,
        Ok(Some(t)) => t,
        Err(why) => return SignatureState::Bad { why },
    };
    let sig = match minisign_verify::Signature::decode(&text) {
        Ok(s) => s,
        Err(e) => return SignatureState::Bad { why: format!("{SIGNATURE_PATH} is not a minisign signature ({e})") },
    };
    let Some(key_id) = text.lines().nth(1).and_then(|l| key_id(l.trim())) else {
        return SignatureState::Bad { why: format!("{SIGNATURE_PATH}: cannot read the key id") };
    };
    let Some(k) = keys.keys.iter().find(|k| k.id == key_id) else {
        return SignatureState::Untrusted { key_id };
    };
    match k.key.verify(statement(tree).as_bytes(), &sig, false) {
        Ok(()) => SignatureState::Trusted { key_id, origin: k.origin.clone() },
        Err(e) => SignatureState::Bad {
            why: format!(
                "key {key_id} does not sign tree {tree} with this signature ({e}); the module changed after signing, or the signature was altered"
            ),
        },
    }
}

fn read_small(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path);
    let f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{SIGNATURE_PATH}: {e}")),
    };
    let mut text = String::new();
    f.take(16 * 1024).read_to_string(&mut text).map_err(|e| format!("{SIGNATURE_PATH}: {e}"))?;
    Ok(Some(text))
}

/// The key id (as `minisign` prints it) in a base64 key or signature line.
pub fn key_id(b64: &str) -> Option<String> {
    let bytes = base64_decode(b64)?;
    let id: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
    Some(format!("{:016X}", u64::from_le_bytes(id)))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

/// Sign the module in `dir` (as on disk; see [`Manifest::from_dir`]) with the minisign
/// secret key in `secret_key`, writing `dir/.yoe/module.minisig`. An encrypted key needs
/// `password` (or is prompted for on the terminal). Returns the tree hash signed.
pub fn sign(dir: &Path, secret_key: &Path, password: Option<String>) -> Result<(String, PathBuf), SignatureError> {
    let manifest =
        Manifest::from_dir(dir).map_err(|e| SignatureError::Sign { why: format!("hashing {}: {e}", dir.display()) })?;
    let tree = manifest.tree_hash();
    let text = std::fs::read_to_string(secret_key)
        .map_err(|e| SignatureError::Io { path: secret_key.to_path_buf(), why: e.to_string() })?;
    let sk_box = minisign::SecretKeyBox::from_string(&text)
        .map_err(|e| SignatureError::Sign { why: format!("{}: {e}", secret_key.display()) })?;
    let sk = match sk_box.clone().into_unencrypted_secret_key() {
        Ok(sk) => sk,
        Err(_) => {
            let pw = match password {
                Some(p) => p,
                None => rpassword::prompt_password(format!("password for {}: ", secret_key.display()))
                    .map_err(|e| SignatureError::Sign { why: format!("reading the password: {e}") })?,
            };
            sk_box
                .into_secret_key(Some(pw))
                .map_err(|e| SignatureError::Sign { why: format!("{}: {e}", secret_key.display()) })?
        }
    };
    let sig = minisign::sign(
        None,
        &sk,
        statement(&tree).as_bytes(),
        Some(&format!("yoe module tree {tree}")),
        Some("yoe module signature"),
    )
    .map_err(|e| SignatureError::Sign { why: e.to_string() })?;
    let path = dir.join(SIGNATURE_PATH);
    let io = |p: &Path, e: std::io::Error| SignatureError::Io { path: p.to_path_buf(), why: e.to_string() };
    let parent = path.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let tmp = parent.join(format!(".module.minisig.tmp-{}", std::process::id()));
    std::fs::write(&tmp, sig.to_string()).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    Ok((tree, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let sk = dir.join(format!("{name}.key"));
        std::fs::write(&sk, kp.sk.to_box(None).unwrap().to_string()).unwrap();
        (sk, kp.pk.to_base64())
    }

    #[test]
    fn sign_then_check_every_state() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("m");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("MODULE.star"), "module_info(name = \"m\")\n").unwrap();
        let (sk, pk) = keypair(t.path(), "alice");
        let (_, other_pk) = keypair(t.path(), "bob");
        let keys = TrustedKeys::parse(t.path(), std::slice::from_ref(&pk)).unwrap();
        let tree = Manifest::from_dir(&m).unwrap().tree_hash();
        assert_eq!(check(&m, &tree, &keys), SignatureState::Unsigned);

        let (signed, _) = sign(&m, &sk, None).unwrap();
        assert_eq!(signed, tree, "the signature file does not change the tree hash");
        assert!(matches!(check(&m, &tree, &keys), SignatureState::Trusted { .. }));

        let bob = TrustedKeys::parse(t.path(), &[other_pk]).unwrap();
        let SignatureState::Untrusted { key_id } = check(&m, &tree, &bob) else { panic!("untrusted expected") };
        assert_eq!(key_id, keys.keys[0].id);

        let other_tree = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(check(&m, &other_tree, &keys), SignatureState::Bad { .. }));
        std::fs::write(m.join(SIGNATURE_PATH), "garbage\n").unwrap();
        assert!(matches!(check(&m, &tree, &keys), SignatureState::Bad { .. }));
    }

    #[test]
    fn keys_from_files_and_bad_entries() {
        let t = tempfile::tempdir().unwrap();
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        std::fs::write(t.path().join("k.pub"), kp.pk.to_box().unwrap().to_string()).unwrap();
        let keys = TrustedKeys::parse(t.path(), &["k.pub".into(), kp.pk.to_base64()]).unwrap();
        assert_eq!(keys.keys[0].id, keys.keys[1].id);
        let err = TrustedKeys::parse(t.path(), &["nope.pub".into()]).unwrap_err().to_string();
        assert!(err.contains("\"nope.pub\""), "{err}");
    }

    #[test]
    fn base64_round_numbers() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
        assert!(base64_decode("T").is_none());
        assert!(base64_decode("T*==").is_none());
    }
}
