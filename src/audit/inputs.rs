//! What is audited, found without evaluating anything: the project (or a lone module), every
//! module reachable through literal `module(...)` declarations in PROJECT.star and in each
//! MODULE.star's `module_info(deps=)`, and every `.star` file under each of those roots.
//! Reads files only, with the loader's reader and limits (no blocking open, regular files
//! only, `max_file_bytes` per file and `max_total_bytes` in all, `max_parse_depth`); follows
//! no symlink out of a root; trusts no path it reads.
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::ast::{Call, Tree};
use super::finding::{Origin, Span};
use crate::model::ModuleRef;
use crate::starlark::files::{ReadError, read_star, read_star_text};
use crate::starlark::labels::normalize;
use crate::starlark::syntax::{ParseError, ParsedFile};
use crate::starlark::{Limit, LoadLimits, ModuleSource};

/// Directories never walked for `.star` files: VCS data and yoe's own output and caches.
const SKIP_DIRS: &[&str] = &[".git", "build", "cache", "target", "node_modules"];

/// One `.star` file.
pub struct SourceFile {
    /// Canonical absolute path.
    pub path: PathBuf,
    /// Shown path: relative to the audited root when inside it.
    pub rel: PathBuf,
    pub origin: Origin,
    pub text: Arc<str>,
    pub parsed: Option<ParsedFile>,
    pub parse_error: Option<String>,
    /// Why the file was not read or parsed, when a load limit or its type was the reason.
    pub refused: Option<Refused>,
    pub tree: Tree,
    /// Byte offset of the start of each line.
    pub lines: Vec<usize>,
}

impl SourceFile {
    /// 1-based (line, column) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let line = self.lines.partition_point(|&s| s <= offset).max(1);
        let start = self.lines[line - 1];
        let col = self.text.get(start..offset.min(self.text.len())).map(|s| s.chars().count()).unwrap_or(0);
        (line as u32, col as u32 + 1)
    }

    /// Byte offset of a 1-based (line, column).
    pub fn offset(&self, line: u32, column: u32) -> Option<usize> {
        let start = *self.lines.get((line as usize).checked_sub(1)?)?;
        let rest = self.text.get(start..)?;
        let col = (column as usize).saturating_sub(1);
        Some(start + rest.char_indices().nth(col).map(|(i, _)| i).unwrap_or(rest.len()))
    }

    /// A span over `bytes`, labelled.
    pub fn span(&self, bytes: Range<usize>, label: impl Into<String>) -> Span {
        let (line, column) = self.line_col(bytes.start);
        let (end_line, end_column) = self.line_col(bytes.end);
        let call_lines = self.tree.enclosing_call(&bytes).map(|c| {
            let r = &self.tree.calls[c].span;
            (self.line_col(r.start).0, self.line_col(r.end).0)
        });
        Span {
            file: self.rel.clone(),
            line,
            column,
            end_line,
            end_column,
            bytes: Some(bytes),
            call: None,
            field: None,
            label: label.into(),
            call_lines,
        }
    }

    /// A span on an argument of a call (the `name = value` text), naming the call and field.
    pub fn arg_span(&self, call: &Call, field: &str, label: impl Into<String>) -> Span {
        let bytes = call.kwarg(field).map(|a| a.span.clone()).unwrap_or_else(|| call.callee_span.clone());
        self.span(bytes, label).with_call(call_label(call)).with_field(field)
    }

    /// A span on the callee of a call.
    pub fn call_span(&self, call: &Call, label: impl Into<String>) -> Span {
        self.span(call.callee_span.clone(), label).with_call(call_label(call))
    }

    pub fn text_of(&self, r: &Range<usize>) -> &str {
        self.text.get(r.clone()).unwrap_or("")
    }
}

/// A file the reader refused: a load limit (`None`: not a regular file), where (line 0:
/// the whole file), and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub limit: Option<Limit>,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// `unit("zlib")`, `module("https://…")`, or just the callee.
pub fn call_label(call: &Call) -> String {
    let first = call.kwarg_str("name").or_else(|| call.positional(0).and_then(|a| a.value.str()));
    match first {
        Some(n) if n.len() <= 80 => format!("{}({n:?})", call.callee),
        _ => call.callee.clone(),
    }
}

/// Where a declared module is, as far as the audit could tell.
#[derive(Debug, Clone, PartialEq)]
pub enum ModuleStatus {
    /// On disk at this directory (`local=`, or given by the module source).
    Found(PathBuf),
    /// Remote and not available here: not audited.
    NotAudited(String),
    /// `local=` (or `path=`) resolves outside the root it must stay in.
    Escapes(String),
    /// `local=` names a directory that does not exist, or the declaration is not literal.
    Missing(String),
}

/// A `module(...)` declaration found in PROJECT.star or a MODULE.star.
pub struct ModuleDecl {
    /// Index of the declaring file in `Inputs::files`, and of the call in its tree.
    pub file: usize,
    pub call: usize,
    pub url: Option<String>,
    pub git_ref: Option<String>,
    pub commit: Option<String>,
    pub path: Option<String>,
    pub local: Option<String>,
    /// Some argument is not a literal.
    pub dynamic: bool,
    /// The module's name: `module_info(name=)` when found, else the basename.
    pub name: String,
    pub status: ModuleStatus,
}

/// Everything found on disk.
pub struct Inputs {
    /// The audited root: the project root, or the module directory for a lone module.
    pub root: PathBuf,
    /// Whether the root is a project (PROJECT.star) rather than a lone module.
    pub is_project: bool,
    pub files: Vec<SourceFile>,
    pub index: HashMap<PathBuf, usize>,
    pub modules: Vec<ModuleDecl>,
    /// Roots walked: (directory, origin), project first.
    pub roots: Vec<(PathBuf, Origin)>,
    limits: LoadLimits,
    /// Bytes read so far (against `max_total_bytes`).
    read: u64,
}

impl Inputs {
    pub fn file(&self, path: &Path) -> Option<&SourceFile> {
        self.index.get(path).map(|&i| &self.files[i])
    }

    /// Shown path for any file: relative to the root where inside it.
    pub fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
    }

    /// The origin of a path: the deepest root holding it.
    pub fn origin_of(&self, path: &Path) -> Origin {
        self.roots
            .iter()
            .filter(|(d, _)| path.starts_with(d))
            .max_by_key(|(d, _)| d.components().count())
            .map(|(_, o)| o.clone())
            .unwrap_or(Origin::Project)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("no PROJECT.star or MODULE.star in {}", .0.display())]
    NoInputs(PathBuf),
    #[error("reading {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// Find and parse everything under `start` (a project or a module directory).
pub fn discover(start: &Path, source: &dyn ModuleSource, limits: &LoadLimits) -> Result<Inputs, InputError> {
    let abs = start.canonicalize().map_err(|e| InputError::Io { path: start.to_path_buf(), message: e.to_string() })?;
    let (root, is_project) = match abs.ancestors().find(|d| d.join("PROJECT.star").is_file()) {
        Some(r) => (r.to_path_buf(), true),
        None if abs.join("MODULE.star").is_file() => (abs.clone(), false),
        None => return Err(InputError::NoInputs(abs)),
    };
    let mut inp = Inputs {
        root: root.clone(),
        is_project,
        files: Vec::new(),
        index: HashMap::new(),
        modules: Vec::new(),
        roots: Vec::new(),
        limits: *limits,
        read: 0,
    };
    let top = if is_project { root.join("PROJECT.star") } else { root.join("MODULE.star") };
    let top_origin = if is_project { Origin::Project } else { Origin::Module(module_name_of(&root, None, limits)) };
    inp.roots.push((root.clone(), top_origin.clone()));
    let first = inp.add_file(&top, top_origin)?;

    // Modules, breadth first from the top file; each MODULE.star declares more.
    let mut queue = vec![first];
    let mut seen_dirs: BTreeMap<PathBuf, String> = BTreeMap::new();
    while let Some(fi) = queue.pop() {
        let calls: Vec<usize> = inp.files[fi].tree.calls_named("module").map(|(i, _)| i).collect();
        for ci in calls {
            let mut decl = module_decl(&inp.files[fi], fi, ci);
            decl.status = locate(&root, &decl, source);
            if let ModuleStatus::Found(dir) = &decl.status {
                let dir = dir.clone();
                let modfile = dir.join("MODULE.star");
                decl.name = module_name_of(&dir, Some(&decl), limits);
                if let Some(name) = seen_dirs.get(&dir) {
                    decl.name = name.clone();
                } else {
                    seen_dirs.insert(dir.clone(), decl.name.clone());
                    inp.roots.push((dir.clone(), Origin::Module(decl.name.clone())));
                    if modfile.exists() {
                        let idx = inp.add_file(&modfile, Origin::Module(decl.name.clone()))?;
                        queue.push(idx);
                    }
                }
            }
            inp.modules.push(decl);
        }
    }

    // Every other .star file, attributed to the deepest root that holds it.
    let roots = inp.roots.clone();
    'roots: for (dir, origin) in &roots {
        for path in star_files(dir, &roots) {
            if inp.full() {
                break 'roots;
            }
            if !inp.index.contains_key(&path) {
                inp.add_file(&path, origin.clone())?;
            }
        }
    }
    Ok(inp)
}

impl Inputs {
    /// The text of `path` (lossy UTF-8), or why the reader refused it (a limit, or not a
    /// regular file); an I/O error fails the audit as before.
    fn read(&mut self, path: &Path) -> Result<Result<String, Refused>, InputError> {
        let limits = self.limits;
        let refuse = |limit: Limit, value: u64| {
            let message = crate::starlark::limits::message(&path.display(), limit, value);
            Ok(Err(Refused { limit: Some(limit), line: 0, column: 0, message }))
        };
        if self.files.len() as u64 >= limits.max_files {
            return refuse(Limit::Files, limits.max_files);
        }
        match read_star(path, limits.max_file_bytes) {
            Ok(bytes) => {
                self.read = self.read.saturating_add(bytes.len() as u64);
                if self.read > limits.max_total_bytes {
                    return refuse(Limit::TotalBytes, limits.max_total_bytes);
                }
                Ok(Ok(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(ReadError::Io { path, message }) => Err(InputError::Io { path, message }),
            Err(e @ ReadError::NotRegular { .. }) => {
                Ok(Err(Refused { limit: None, line: 0, column: 0, message: e.to_string() }))
            }
            Err(ReadError::TooLarge { limit, .. }) => refuse(Limit::FileBytes, limit),
        }
    }

    /// Whether `max_files` files were added: the next one is refused and no more are read.
    fn full(&self) -> bool {
        self.files.len() as u64 > self.limits.max_files
    }

    fn add_file(&mut self, path: &Path, origin: Origin) -> Result<usize, InputError> {
        let (text, mut refused) = match self.read(path)? {
            Ok(text) => (text, None),
            Err(r) => (String::new(), Some(r)),
        };
        let mut lines = vec![0];
        lines.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let (parsed, parse_error) = match &refused {
            Some(r) => (None, Some(r.message.clone())),
            None => match ParsedFile::parse_with(path, text.clone(), &self.limits) {
                Ok(p) => (Some(p), None),
                Err(e) => {
                    if let ParseError::TooDeep { location, .. } = &e {
                        refused = Some(Refused {
                            limit: Some(Limit::ParseDepth),
                            line: location.line,
                            column: location.column,
                            message: e.to_string(),
                        });
                    }
                    (None, Some(e.to_string()))
                }
            },
        };
        let tree = parsed.as_ref().map(Tree::of).unwrap_or_default();
        let idx = self.files.len();
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            rel: self.rel(path),
            origin,
            text: Arc::from(text),
            parsed,
            parse_error,
            refused,
            tree,
            lines,
        });
        self.index.insert(path.to_path_buf(), idx);
        Ok(idx)
    }
}

fn module_decl(f: &SourceFile, file: usize, call: usize) -> ModuleDecl {
    let c = &f.tree.calls[call];
    let lit = |k: &str| c.kwarg(k).and_then(|a| a.value.str()).map(str::to_string);
    let url = c.positional(0).and_then(|a| a.value.str()).map(str::to_string).or_else(|| lit("url"));
    let dynamic = c.args.iter().any(|a| a.value.is_dynamic() || matches!(a.name.as_deref(), Some("*" | "**")));
    let mut d = ModuleDecl {
        file,
        call,
        url,
        git_ref: lit("ref"),
        commit: lit("commit"),
        path: lit("path"),
        local: lit("local"),
        dynamic,
        name: String::new(),
        status: ModuleStatus::Missing(String::new()),
    };
    d.name = d.as_ref().basename();
    d
}

impl ModuleDecl {
    /// As the model's reference (for the module source and for names).
    pub fn as_ref(&self) -> ModuleRef {
        ModuleRef {
            url: self.url.clone().unwrap_or_default(),
            git_ref: self.git_ref.clone().unwrap_or_default(),
            commit: self.commit.clone().unwrap_or_default(),
            path: self.path.clone().unwrap_or_default(),
            local: self.local.clone().unwrap_or_default(),
            declared_at: None,
        }
    }
}

/// Where a module lives, with the project's containment rules (checked lexically first, so
/// an escaping path is reported without being touched).
fn locate(root: &Path, d: &ModuleDecl, source: &dyn ModuleSource) -> ModuleStatus {
    let checkout = match d.local.as_deref().filter(|l| !l.is_empty()) {
        Some(local) => match contained(root, local) {
            Ok(p) => p,
            Err(s) => return s,
        },
        None => {
            if d.url.as_deref().is_none_or(str::is_empty) {
                return ModuleStatus::Missing("neither a literal url nor local= is given".into());
            }
            match source.checkout(&d.as_ref()) {
                Ok(p) => p,
                Err(e) => return ModuleStatus::NotAudited(e),
            }
        }
    };
    match d.path.as_deref().filter(|p| !p.is_empty()) {
        None => ModuleStatus::Found(checkout),
        Some(p) => match contained(&checkout, p) {
            Ok(dir) => ModuleStatus::Found(dir),
            Err(s) => s,
        },
    }
}

fn contained(base: &Path, rel: &str) -> Result<PathBuf, ModuleStatus> {
    let joined = base.join(rel);
    if !normalize(&joined).starts_with(base) {
        return Err(ModuleStatus::Escapes(format!("{rel:?} resolves to {}", normalize(&joined).display())));
    }
    match joined.canonicalize() {
        Ok(c) if c.starts_with(base) && c.is_dir() => Ok(c),
        Ok(c) if !c.starts_with(base) => {
            Err(ModuleStatus::Escapes(format!("{rel:?} resolves (through a symlink) to {}", c.display())))
        }
        Ok(c) => Err(ModuleStatus::Missing(format!("{} is not a directory", c.display()))),
        Err(e) => Err(ModuleStatus::Missing(format!("{}: {e}", joined.display()))),
    }
}

/// A module's name: the literal `module_info(name=)` in its MODULE.star, else the basename.
fn module_name_of(dir: &Path, decl: Option<&ModuleDecl>, limits: &LoadLimits) -> String {
    if let Ok(text) = read_star_text(&dir.join("MODULE.star"), limits.max_file_bytes)
        && let Ok(parsed) = ParsedFile::parse_with(&dir.join("MODULE.star"), text, limits)
    {
        let tree = Tree::of(&parsed);
        if let Some(name) = tree.calls_named("module_info").find_map(|(_, c)| c.kwarg_str("name").map(str::to_string)) {
            return name;
        }
    }
    decl.map(|d| d.as_ref().basename())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// `.star` files under `dir` that belong to it (not to a deeper root), sorted. Symlinks are
/// not followed; hidden directories and yoe's output directories are skipped. A fifo,
/// socket, device or directory named `*.star` is listed too (the reader refuses it, and
/// the audit reports it), but never opened or walked into.
fn star_files(dir: &Path, roots: &[(PathBuf, Origin)]) -> Vec<PathBuf> {
    let is_star = |p: &Path| p.extension().is_some_and(|x| x == "star");
    let mut out = Vec::new();
    let mut star_dirs = Vec::new();
    let walker = walkdir::WalkDir::new(dir).sort_by_file_name().follow_links(false).into_iter();
    for entry in walker.filter_entry(|e| {
        let p = e.path();
        if e.depth() == 0 {
            return true;
        }
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_dir() {
            if name.starts_with('.') || (e.depth() == 1 && SKIP_DIRS.contains(&name.as_ref())) {
                return false;
            }
            if is_star(p) {
                star_dirs.push(p.to_path_buf());
                return false;
            }
            // Another root is walked on its own.
            return !roots.iter().any(|(r, _)| r == p);
        }
        true
    }) {
        let Ok(entry) = entry else { continue };
        let ft = entry.file_type();
        if !ft.is_symlink() && is_star(entry.path()) {
            out.push(entry.path().to_path_buf());
        }
    }
    out.extend(star_dirs);
    out.sort();
    out
}

/// Whether a relative path has no `..` and is not absolute.
pub fn is_plain_relative(p: &str) -> bool {
    Path::new(p).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
