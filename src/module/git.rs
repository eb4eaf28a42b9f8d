//! Running git for modules, isolated: an empty environment (plus `PATH`, proxies and TLS
//! trust-store overrides), no system or global config, a scratch `HOME`, no prompts, no
//! credential helpers, no hooks, no replace objects, only the https, http and file
//! transports. It trusts the git binary and nothing in a repository's config: yoe rewrites
//! the config of the bare repositories it owns before every use.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::env;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run {program} (needed to fetch modules; set YOE_GIT to another git): {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("git {args} failed ({status}): {stderr}")]
    Failed { args: String, status: String, stderr: String },
    #[error("module url {url:?} is not allowed: {why}")]
    Url { url: String, why: String },
    #[error("{url}: no branch or tag named {git_ref:?}")]
    RefNotFound { url: String, git_ref: String },
    #[error("{url}: {git_ref:?} names both a branch and a tag; write refs/heads/{git_ref} or refs/tags/{git_ref}")]
    AmbiguousRef { url: String, git_ref: String },
    #[error("{}: {why}", path.display())]
    Io { path: PathBuf, why: String },
}

/// Settings given on every command line; they override any repository config.
const CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.askPass=",
    "credential.helper=",
    "core.sshCommand=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "fetch.writeCommitGraph=false",
    "protocol.version=2",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
];

/// The transports modules may use.
const PROTOCOLS: &str = "https:http:file";

/// Runs git with yoe's fixed, isolated settings.
#[derive(Debug, Clone)]
pub struct Git {
    program: PathBuf,
    home: PathBuf,
}

/// What a ref resolved to on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    pub commit: String,
    /// `branch`, `tag`, `HEAD` or `commit` (a 40-hex ref needs no lookup).
    pub kind: &'static str,
}

impl Git {
    /// `home` is used as `HOME`: a directory yoe owns and keeps empty (or one that does not
    /// exist). git reads no config from it (`GIT_CONFIG_GLOBAL=/dev/null`).
    pub fn new(home: &Path) -> Git {
        Git { program: env::git_program(), home: home.to_path_buf() }
    }

    /// A command with the isolated environment and config, not yet given a verb.
    pub fn command(&self, git_dir: Option<&Path>) -> Command {
        let mut c = Command::new(&self.program);
        c.env_clear();
        for (k, v) in env::git_passthrough() {
            c.env(k, v);
        }
        c.env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ATTR_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("GIT_ALLOW_PROTOCOL", PROTOCOLS)
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        for kv in CONFIG {
            c.arg("-c").arg(kv);
        }
        if let Some(d) = git_dir {
            c.arg("--git-dir").arg(d);
        }
        c
    }

    /// Run to completion; a non-zero exit is an error carrying stderr.
    pub fn run<I, S>(&self, git_dir: Option<&Path>, args: I) -> Result<Output, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
        let out = self
            .command(git_dir)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| GitError::Spawn { program: self.program.display().to_string(), source })?;
        if !out.status.success() {
            return Err(GitError::Failed {
                args: args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Create `dir` as an empty bare repository (the parent must exist).
    pub fn init_bare(&self, dir: &Path) -> Result<(), GitError> {
        self.run(None, [OsStr::new("init"), OsStr::new("--bare"), OsStr::new("--quiet"), dir.as_os_str()])?;
        sanitize_repo(dir)
    }

    /// Resolve `git_ref` on the remote without fetching: empty means the remote's `HEAD`,
    /// a 40-hex id is taken as is, `refs/…` is exact, otherwise a branch or tag of that name.
    pub fn resolve_ref(&self, url: &str, git_ref: &str) -> Result<RemoteRef, GitError> {
        check_url(url)?;
        if crate::model::module::is_full_commit(git_ref) {
            return Ok(RemoteRef { commit: git_ref.to_string(), kind: "commit" });
        }
        let patterns: Vec<String> = if git_ref.is_empty() || git_ref == "HEAD" {
            vec!["HEAD".into()]
        } else if git_ref.starts_with("refs/") {
            vec![git_ref.to_string()]
        } else {
            vec![format!("refs/heads/{git_ref}"), format!("refs/tags/{git_ref}")]
        };
        let mut args = vec!["ls-remote".to_string(), "--".into(), url.to_string()];
        // `name*` so that peeled tags (`name^{}`) are listed too; names are matched exactly
        // below (ref names cannot contain glob characters).
        args.extend(patterns.iter().map(|p| if p == "HEAD" { p.clone() } else { format!("{p}*") }));
        let out = self.run(None, &args)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut found: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some((id, name)) = line.split_once('\t')
                && crate::model::module::is_full_commit(id)
            {
                found.push((name.to_string(), id.to_string()));
            }
        }
        let get = |name: &str| found.iter().find(|(n, _)| n == name).map(|(_, id)| id.clone());
        let lookup = |name: &str| get(&format!("{name}^{{}}")).or_else(|| get(name));
        let not_found = || GitError::RefNotFound { url: url.to_string(), git_ref: git_ref.to_string() };
        if patterns.len() == 1 {
            let kind = if patterns[0] == "HEAD" {
                "HEAD"
            } else if patterns[0].starts_with("refs/tags/") {
                "tag"
            } else {
                "branch"
            };
            return lookup(&patterns[0]).map(|commit| RemoteRef { commit, kind }).ok_or_else(not_found);
        }
        match (lookup(&patterns[0]), lookup(&patterns[1])) {
            (Some(_), Some(_)) => Err(GitError::AmbiguousRef { url: url.to_string(), git_ref: git_ref.to_string() }),
            (Some(commit), None) => Ok(RemoteRef { commit, kind: "branch" }),
            (None, Some(commit)) => Ok(RemoteRef { commit, kind: "tag" }),
            (None, None) => Err(not_found()),
        }
    }

    /// Whether `repo` holds `commit` as a commit object.
    pub fn has_commit(&self, repo: &Path, commit: &str) -> bool {
        self.run(Some(repo), ["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_ok()
    }

    /// Fetch `commit` from `url` into the bare `repo`: by id first (shallow), then, if the
    /// server refuses unadvertised ids, the whole `git_ref` (when known). With
    /// `must_reach`, a commit that is already in `repo` counts only once a fetch from `url`
    /// succeeded (the caller proves it can reach the repository).
    pub fn fetch_commit(
        &self,
        repo: &Path,
        url: &str,
        commit: &str,
        git_ref: &str,
        must_reach: bool,
    ) -> Result<(), GitError> {
        check_url(url)?;
        sanitize_repo(repo)?;
        let keep = format!("+{commit}:refs/yoe/pins/{commit}");
        let first = self.run(Some(repo), ["fetch", "--quiet", "--no-tags", "--depth=1", "--", url, &keep]);
        if self.has_commit(repo, commit) && (first.is_ok() || !must_reach) {
            return Ok(());
        }
        if !git_ref.is_empty() && !crate::model::module::is_full_commit(git_ref) {
            let src = if git_ref.starts_with("refs/") || git_ref == "HEAD" {
                git_ref.to_string()
            } else {
                // Try the branch, then the tag.
                let b = format!("+refs/heads/{git_ref}:refs/yoe/fetched/{git_ref}");
                if self.run(Some(repo), ["fetch", "--quiet", "--no-tags", "--", url, &b]).is_ok()
                    && self.has_commit(repo, commit)
                {
                    return Ok(());
                }
                format!("refs/tags/{git_ref}")
            };
            let spec = format!("+{src}:refs/yoe/fetched/{}", src.trim_start_matches("refs/"));
            let r = self.run(Some(repo), ["fetch", "--quiet", "--no-tags", "--", url, &spec]);
            if self.has_commit(repo, commit) && (r.is_ok() || !must_reach) {
                return Ok(());
            }
        }
        Err(match first {
            Err(e) => e,
            Ok(_) => GitError::Failed {
                args: format!("fetch {url} {commit}"),
                status: "no such commit".into(),
                stderr: format!("{url} did not provide commit {commit}"),
            },
        })
    }
}

/// Only `https://`, `http://` and `file://` URLs; nothing that git could read as an option.
pub fn check_url(url: &str) -> Result<(), GitError> {
    let bad = |why: &str| Err(GitError::Url { url: url.to_string(), why: why.to_string() });
    if url.starts_with('-') || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it starts with `-` or contains spaces or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("expected an https://, http:// or file:// URL");
    };
    if !matches!(scheme, "https" | "http" | "file") {
        return bad("only https://, http:// and file:// are allowed (ssh, git:// and other transports are not)");
    }
    if rest.is_empty() || rest == "/" {
        return bad("the URL has no host or path");
    }
    Ok(())
}

/// Make a bare repository yoe owns safe to run git in: a fixed config (no remotes, no
/// helpers, nothing executable), no hooks, no grafts, no alternates, no replace refs.
pub fn sanitize_repo(repo: &Path) -> Result<(), GitError> {
    let io = |p: &Path, e: std::io::Error| GitError::Io { path: p.to_path_buf(), why: e.to_string() };
    let meta = std::fs::symlink_metadata(repo).map_err(|e| io(repo, e))?;
    if !meta.is_dir() {
        return Err(GitError::Io { path: repo.to_path_buf(), why: "not a directory".into() });
    }
    let config = repo.join("config");
    let tmp = repo.join("config.yoe-tmp");
    std::fs::write(&tmp, "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n")
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &config).map_err(|e| io(&config, e))?;
    for p in [
        "hooks",
        "info/grafts",
        "objects/info/alternates",
        "objects/info/http-alternates",
        "refs/replace",
        "shallow.lock",
    ] {
        let path = repo.join(p);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).map_err(|e| io(&path, e))?,
            Ok(_) => std::fs::remove_file(&path).map_err(|e| io(&path, e))?,
            Err(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in ["https://github.com/yoebuild/yoe.git", "http://127.0.0.1:8080/m.git", "file:///tmp/m"] {
            check_url(ok).unwrap();
        }
        for bad in [
            "git@github.com:x/y.git",
            "ssh://host/x",
            "git://host/x",
            "ext::sh -c evil",
            "-uhttps://x",
            "/tmp/m",
            "https://",
            "https://x/a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sanitize_rewrites_config_and_drops_hooks() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("r.git");
        std::fs::create_dir_all(r.join("hooks")).unwrap();
        std::fs::create_dir_all(r.join("objects/info")).unwrap();
        std::fs::write(r.join("hooks/reference-transaction"), "#!/bin/sh\ntouch /tmp/pwned\n").unwrap();
        std::fs::write(r.join("objects/info/alternates"), "/elsewhere\n").unwrap();
        std::fs::write(r.join("config"), "[core]\n\tfsmonitor = /tmp/evil\n").unwrap();
        sanitize_repo(&r).unwrap();
        assert!(!r.join("hooks").exists() && !r.join("objects/info/alternates").exists());
        assert!(!std::fs::read_to_string(r.join("config")).unwrap().contains("fsmonitor"));
    }
}
