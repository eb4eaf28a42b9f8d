//! The unprivileged host user that runs bwrap when yoe itself runs as root, and the
//! hand-over of build dirs to that user. Trusts /etc/passwd and /etc/group as the system's
//! account database; runs `useradd` (absolute path, empty environment) only when asked to.
//! Trusts nothing beneath a dir it hands over (a previous step wrote it).

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The default build user's name.
pub const DEFAULT_BUILD_USER: &str = "yoe-build";

/// Which host user steps run as when yoe runs as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildUserConfig {
    /// A named account, created with `useradd --system` if it does not exist.
    Named(String),
    /// Fixed ids from configuration (no account needed).
    Ids { uid: u32, gid: u32 },
}

impl Default for BuildUserConfig {
    fn default() -> Self {
        BuildUserConfig::Named(DEFAULT_BUILD_USER.to_string())
    }
}

impl std::fmt::Display for BuildUserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildUserConfig::Named(n) => write!(f, "user {n}"),
            BuildUserConfig::Ids { uid, gid } => write!(f, "uid {uid} gid {gid}"),
        }
    }
}

/// A resolved build user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildUser {
    pub uid: u32,
    pub gid: u32,
}

/// Why the build user could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("build user uid {uid}/gid {gid} is root; steps must not run as host root")]
    Root { uid: u32, gid: u32 },
    #[error("build user name {0:?} is not a valid account name")]
    BadName(String),
    #[error("reading /etc/passwd: {0}")]
    Passwd(io::Error),
    #[error("creating build user {name} with useradd failed: {detail}")]
    Create { name: String, detail: String },
    #[error("build user {0} still does not exist after useradd")]
    Missing(String),
    #[error("handing {path} over to the build user: {source}")]
    Chown { path: PathBuf, source: io::Error },
    #[error("handing {path} over to the build user: {source}")]
    HandOver { path: PathBuf, source: crate::fsx::FsError },
    #[error(
        "{path} is not searchable by the build user (mode {mode:o}); move the project or \
         the build dir somewhere every user can traverse"
    )]
    NotTraversable { path: PathBuf, mode: u32 },
}

/// Looks `name` up in /etc/passwd: `(uid, gid)`.
pub fn lookup_passwd(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _pw = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// Resolves the build user, creating the named account when it is missing.
pub fn resolve_build_user(cfg: &BuildUserConfig) -> Result<BuildUser, UserError> {
    let (uid, gid) = match cfg {
        BuildUserConfig::Ids { uid, gid } => (*uid, *gid),
        BuildUserConfig::Named(name) => ensure_system_user(name)?,
    };
    if uid == 0 || gid == 0 {
        return Err(UserError::Root { uid, gid });
    }
    Ok(BuildUser { uid, gid })
}

/// `(uid, gid)` of a system account, created (no home, no login shell) when missing.
pub fn ensure_system_user(name: &str) -> Result<(u32, u32), UserError> {
    if !valid_name(name) {
        return Err(UserError::BadName(name.to_string()));
    }
    let read = || std::fs::read_to_string("/etc/passwd").map_err(UserError::Passwd);
    match lookup_passwd(&read()?, name) {
        Some(ids) => Ok(ids),
        None => {
            create_user(name)?;
            lookup_passwd(&read()?, name).ok_or_else(|| UserError::Missing(name.to_string()))
        }
    }
}

fn create_user(name: &str) -> Result<(), UserError> {
    let out = Command::new("/usr/sbin/useradd")
        .env_clear()
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "yoe sandboxed build steps",
            name,
        ])
        .output()
        .map_err(|e| UserError::Create { name: name.into(), detail: e.to_string() })?;
    // Exit 9: the name exists already (a concurrent yoe created it).
    if out.status.success() || out.status.code() == Some(9) {
        Ok(())
    } else {
        Err(UserError::Create { name: name.into(), detail: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

/// Gives `dir` and everything beneath it to the build user, and checks that every ancestor
/// of `dir` is searchable by that user. Each entry is changed through an fd opened beneath
/// `dir` without following it ([`crate::fsx::owner`]): symlinks are changed themselves, a
/// concurrent swap cannot redirect the change, and a hard link to a file of another owner is
/// refused. Trees deeper than [`crate::fsx::MAX_DEPTH`] levels are an error naming the path.
pub fn hand_over(dir: &Path, user: BuildUser) -> Result<(), UserError> {
    check_traversable(dir, user)?;
    chown_tree(dir, user)
}

fn chown_tree(path: &Path, user: BuildUser) -> Result<(), UserError> {
    let err = |source| UserError::HandOver { path: path.to_path_buf(), source };
    let dir = crate::fsx::Dir::open(path).map_err(err)?;
    crate::fsx::owner::chown_tree(&dir, user.uid, user.gid).map_err(err)?;
    Ok(())
}

/// Every ancestor of `dir` must let the user search it (x for owner, group or other).
pub fn check_traversable(dir: &Path, user: BuildUser) -> Result<(), UserError> {
    let abs = std::path::absolute(dir).map_err(|source| UserError::Chown { path: dir.to_path_buf(), source })?;
    for anc in abs.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(anc) else {
            continue;
        };
        let mode = meta.permissions().mode();
        let ok = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return Err(UserError::NotTraversable { path: anc.to_path_buf(), mode: mode & 0o7777 });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nyoe-build:x:998:997::/nonexistent:/usr/sbin/nologin\nbad:x:y:z\n";
        assert_eq!(lookup_passwd(passwd, "yoe-build"), Some((998, 997)));
        assert_eq!(lookup_passwd(passwd, "yoe"), None);
        assert_eq!(lookup_passwd(passwd, "bad"), None);
    }

    #[test]
    fn root_ids_are_refused() {
        assert!(matches!(resolve_build_user(&BuildUserConfig::Ids { uid: 0, gid: 5 }), Err(UserError::Root { .. })));
        assert!(matches!(resolve_build_user(&BuildUserConfig::Named("-rf".into())), Err(UserError::BadName(_))));
    }

    #[test]
    fn hand_over_changes_owners_without_following_symlinks() {
        if yoe_sandbox_helper::sys::euid() != 0 {
            return; // chown to another uid needs root
        }
        let t = tempfile::tempdir().expect("tempdir");
        let outside = t.path().join("outside");
        std::fs::write(&outside, "x").expect("write");
        let dir = t.path().join("d");
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("sub/f"), "x").expect("write");
        std::os::unix::fs::symlink(&outside, dir.join("link")).expect("symlink");
        let user = BuildUser { uid: 4242, gid: 4343 };
        hand_over(&dir, user).expect("hand over");
        for p in [dir.clone(), dir.join("sub"), dir.join("sub/f"), dir.join("link")] {
            let m = std::fs::symlink_metadata(&p).expect("meta");
            assert_eq!((m.uid(), m.gid()), (4242, 4343), "{}", p.display());
        }
        assert_eq!(std::fs::metadata(&outside).expect("meta").uid(), 0);
    }

    #[test]
    fn hand_over_refuses_a_hard_link_to_a_foreign_file() {
        if yoe_sandbox_helper::sys::euid() != 0 {
            return;
        }
        let t = tempfile::tempdir().expect("tempdir");
        let outside = t.path().join("shadow");
        std::fs::write(&outside, "x").expect("write");
        std::os::unix::fs::lchown(&outside, Some(1234), Some(1234)).expect("chown");
        let dir = t.path().join("d");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::hard_link(&outside, dir.join("planted")).expect("link");
        let e = hand_over(&dir, BuildUser { uid: 4242, gid: 4343 }).unwrap_err();
        assert!(e.to_string().contains("planted has 2 hard links and belongs to uid 1234"), "{e}");
        assert_eq!(std::fs::metadata(&outside).expect("meta").uid(), 1234);
    }
}
