//! `--paranoid`'s rules for modules and the project tree, each refusal naming its rule:
//! `paranoid-unpinned-module` (a remote module declared without `commit=`), `paranoid-unsigned-module` (no
//! valid signature by a trusted key) and `paranoid-dirty-project` (uncommitted or untracked files in
//! the project's git work tree, outside yoe's own `build/`). It trusts the git binary; the
//! project's git config is read by git as for any `git status` the user runs, with hooks
//! and fsmonitor disabled.
use std::path::Path;

use super::git::Git;

pub const RULE_UNPINNED: &str = "paranoid-unpinned-module";
pub const RULE_UNSIGNED: &str = "paranoid-unsigned-module";
pub const RULE_DIRTY: &str = "paranoid-dirty-project";

/// The text of a `--paranoid` refusal.
pub fn refusal(rule: &str, message: &str) -> String {
    format!("--paranoid refuses this [rule: {rule}]: {message}")
}

#[derive(Debug, thiserror::Error)]
pub enum ParanoidError {
    #[error("{0}")]
    Refused(String),
    #[error("--paranoid [rule: {RULE_DIRTY}]: cannot tell whether the project's git tree is clean: {0}")]
    Unknown(String),
}

/// Refuse a project whose git work tree has changes (modified, staged, deleted or untracked
/// files under the project root, except `build/`). A project outside any git repository
/// passes: there is nothing to compare against.
pub fn require_clean_project(root: &Path) -> Result<(), ParanoidError> {
    if !root.ancestors().any(|d| d.join(".git").exists()) {
        return Ok(());
    }
    let git = Git::new(Path::new("/nonexistent/yoe-home"));
    let out = git
        .command(None)
        .arg("-C")
        .arg(root)
        .args([
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=none",
            "--",
            ".",
            ":(exclude)build",
        ])
        .output()
        .map_err(|e| ParanoidError::Unknown(e.to_string()))?;
    if !out.status.success() {
        return Err(ParanoidError::Unknown(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let changed: Vec<String> =
        out.stdout.split(|&b| b == 0).filter(|r| r.len() > 3).map(|r| String::from_utf8_lossy(r).to_string()).collect();
    if changed.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 10;
    let mut list: Vec<String> = changed.iter().take(SHOWN).map(|c| c.trim().to_string()).collect();
    if changed.len() > SHOWN {
        list.push(format!("and {} more", changed.len() - SHOWN));
    }
    Err(ParanoidError::Refused(refusal(
        RULE_DIRTY,
        &format!(
            "the project's git tree has uncommitted changes ({}); commit or remove them so the build is what the commit says",
            list.join(", ")
        ),
    )))
}
