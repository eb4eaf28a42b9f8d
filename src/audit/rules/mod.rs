//! The rules, one file each, and what several of them share: URL classes, the shell steps
//! of every unit and every literal `run("...")`, and the files of each audited tree.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::Context;
use super::finding::{Origin, Span};
use super::shell::Script;

pub mod cache_dir_escape;
pub mod committed_private_key;
pub mod curl_pipe_shell;
pub mod device_node_in_output;
pub mod git_source_without_commit;
pub mod github_generated_archive;
pub mod host_env_passthrough;
pub mod host_path_in_output;
pub mod host_path_write;
pub mod insecure_module_url;
pub mod insecure_source_url;
pub mod invalid_name;
pub mod load_label_escape;
pub mod load_limit;
pub mod local_module_escape;
pub mod mirror_without_hash;
pub mod module_binary_artifact;
pub mod module_build_dir;
pub mod module_lock_mismatch;
pub mod module_ships_commands;
pub mod network_requested;
pub mod obfuscated_step;
pub mod removed_escalation_kwarg;
pub mod sandbox_disabled;
pub mod secret_in_environment;
pub mod setuid_in_output;
pub mod shared_writable_cache;
pub mod source_without_hash;
pub mod unknown_kwarg;
pub mod unpinned_container_image;
pub mod unpinned_module;
pub mod unpinned_tool_install;
pub mod unsigned_module;
pub mod unused_suppression;
pub mod weak_source_hash;
pub mod world_writable_output;

/// Define a rule's `META` and `Check` with its metadata.
macro_rules! rule {
    ($id:literal, $group:ident, $sev:ident, $conf:ident, $persona:ident, $phase:ident, $summary:literal) => {
        pub struct Check;
        pub static META: $crate::audit::registry::RuleMeta = $crate::audit::registry::RuleMeta {
            id: $id,
            group: $crate::audit::finding::Group::$group,
            severity: $crate::audit::finding::Severity::$sev,
            confidence: $crate::audit::finding::Confidence::$conf,
            persona: $crate::audit::finding::Persona::$persona,
            phase: $crate::audit::finding::Phase::$phase,
            summary: $summary,
        };
    };
}
pub(crate) use rule;

/// Whether a source is fetched with git (Go yoe's `IsGitURL`).
pub fn is_git_url(s: &str) -> bool {
    s.ends_with(".git")
        || s.starts_with("git://")
        || s.starts_with("git@")
        || s.starts_with("ssh://")
        || s.starts_with("git+")
        || (s.contains("github.com/") && !s.contains("/archive/") && !s.contains("/releases/"))
}

/// An archive (or file) fetched over the network.
pub fn is_remote_archive(s: &str) -> bool {
    !is_git_url(s) && ["https://", "http://", "ftp://"].iter().any(|p| s.starts_with(p))
}

/// A scheme without transport security.
pub fn is_insecure_url(s: &str) -> bool {
    ["http://", "ftp://", "git://"].iter().any(|p| s.starts_with(p))
}

/// A shell command somewhere: a unit's step or a literal `run("...")` in a `def`.
pub struct ShellSite {
    pub text: String,
    pub script: Rc<Script>,
    pub route: String,
    pub primary: Span,
    pub secondary: Vec<Span>,
    /// The unit (for unit steps) and its index in `Context::units`.
    pub unit: Option<usize>,
    /// Index of the step within the unit (steps of one unit share files and cwd).
    pub step: usize,
}

impl Context<'_> {
    /// Every shell step of every unit, then every literal `run("...")` command (computed
    /// once per audit).
    pub fn shell_sites(&self) -> Rc<Vec<ShellSite>> {
        self.sites.get_or_init(|| Rc::new(self.compute_shell_sites())).clone()
    }

    /// Every regular file of each audited tree (computed once per audit); see
    /// [`Context::compute_tree_files`].
    pub fn tree_files(&self) -> Rc<Vec<TreeFile>> {
        self.tree.get_or_init(|| Rc::new(self.compute_tree_files())).clone()
    }

    /// A finding on a shell site: its span (relabelled), route and secondary spans.
    pub fn site_finding(
        &self,
        meta: &'static super::registry::RuleMeta,
        site: &ShellSite,
        label: &str,
        message: String,
        tip: &str,
    ) -> super::Finding {
        let mut f = self.finding(meta, site.primary.clone().with_label(label), site.route.clone(), message, tip);
        f.secondary = site.secondary.clone();
        f
    }

    fn compute_shell_sites(&self) -> Vec<ShellSite> {
        let mut out = Vec::new();
        for (ui, u) in self.units.iter().enumerate() {
            for (k, (step, text)) in u.shell_steps().enumerate() {
                let (primary, secondary) = u.step_spans(&self.inputs, step, "this step");
                out.push(ShellSite {
                    text: text.to_string(),
                    script: self.script(text),
                    route: format!("{}.tasks[{}].steps[{}]", u.route(), step.task, step.index),
                    primary,
                    secondary,
                    unit: Some(ui),
                    step: k,
                });
            }
        }
        for f in &self.inputs.files {
            let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            for c in f.tree.calls.iter().filter(|c| c.callee == "run") {
                let def = c.def.clone().unwrap_or_else(|| "<top>".into());
                let n = counts.entry(def.clone()).or_default();
                let k = *n;
                *n += 1;
                let Some(arg) = c.positional(0) else { continue };
                let Some(text) = arg.value.str() else { continue };
                out.push(ShellSite {
                    text: text.to_string(),
                    script: self.script(text),
                    route: format!("file({}).def({def}).run[{k}]", f.rel.display()),
                    primary: f.span(arg.span.clone(), "this command").with_call("run"),
                    secondary: Vec::new(),
                    unit: None,
                    step: k,
                });
            }
        }
        out
    }

    /// Every regular file of each audited tree (project and modules on disk), with up to
    /// 4 KiB of its head: (origin, root, path relative to that root, absolute path, head).
    fn compute_tree_files(&self) -> Vec<TreeFile> {
        let mut out = Vec::new();
        for (root, origin) in &self.inputs.roots {
            let nested: Vec<&PathBuf> = self.inputs.roots.iter().map(|(d, _)| d).filter(|d| *d != root).collect();
            let walker = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name();
            for entry in walker.into_iter().filter_entry(|e| {
                if e.depth() == 0 {
                    return true;
                }
                let name = e.file_name().to_string_lossy();
                if e.file_type().is_dir() {
                    if name == ".git" || nested.iter().any(|n| n.as_path() == e.path()) {
                        return false;
                    }
                    // The project's own build outputs and caches are not sources.
                    if *origin == Origin::Project
                        && e.depth() == 1
                        && ["build", "cache", "target"].contains(&name.as_ref())
                    {
                        return false;
                    }
                }
                true
            }) {
                let Ok(entry) = entry else { continue };
                if !entry.file_type().is_file() {
                    continue;
                }
                let abs = entry.path().to_path_buf();
                let mut head = Vec::new();
                if let Ok(f) = std::fs::File::open(&abs) {
                    let _ = f.take(4096).read_to_end(&mut head);
                }
                let rel = abs.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| abs.clone());
                out.push(TreeFile { origin: origin.clone(), root: root.clone(), rel, abs, head });
            }
        }
        out
    }
}

pub struct TreeFile {
    pub origin: Origin,
    pub root: PathBuf,
    pub rel: PathBuf,
    pub abs: PathBuf,
    pub head: Vec<u8>,
}

/// Command names that download.
pub const DOWNLOADERS: &[&str] = &["curl", "wget", "fetch", "aria2c", "gsutil", "aws", "http", "https"];

/// Command names that run a script given on stdin or as a file.
pub const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "fish", "python", "python2", "python3", "perl", "ruby", "node",
    "php", "lua", "tclsh", "source", ".",
];

/// Whether `name` is an interpreter (`python3.11` counts as `python3`).
pub fn is_interpreter(name: &str) -> bool {
    INTERPRETERS.contains(&name)
        || name.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Whether an interpreter invocation reads its program from stdin (no script operand, `-s`,
/// or `-`), given its arguments.
pub fn reads_stdin(args: &[super::shell::Word]) -> bool {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.value.as_str() {
            "-" | "-s" => return true,
            "-c" | "-e" | "-m" => return false,
            v if v.starts_with('-') => i += 1,
            _ => return false,
        }
    }
    true
}
