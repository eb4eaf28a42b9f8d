//! The in-memory picture of the tree being extracted, and path resolution inside it, the
//! way the kernel would resolve it (symlinks followed, `..` applied to the real parent).
//! Pure: no I/O. It is exact because the staging directory is fresh and only this
//! extraction writes to it, with exclusive creates, so what is on disk is what is here.
//!
//! The invariant that keeps every symlink inside the destination, whatever comes later:
//! directories are never replaced or removed; a symlink's target is relative, has `..`
//! only as leading components, and has no more of them than the depth of the real
//! directory holding the link. Its resolution therefore climbs only through real,
//! immutable directories and then walks down by names, which cannot leave the tree.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::error::Refusal;
use crate::names::{RelPath, SymlinkTarget, TargetComp, display_components};

/// At most this many symlinks are followed resolving one path (Linux's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;

/// What a path of the tree holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File,
    Symlink(SymlinkTarget),
}

/// What is at a placement's path before the new entry is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    Nothing,
    Dir,
    File,
    Symlink,
}

/// Where a new entry goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The real path of the entry: every parent is a real directory (or one still to be
    /// created), never a symlink.
    pub(crate) path: Vec<OsString>,
    /// Index in `path` of the first parent that does not exist yet; `path.len() - 1` when
    /// every parent exists.
    pub(crate) first_missing: usize,
    /// What `path` holds now.
    pub(crate) existing: Existing,
}

impl Placement {
    /// Depth of the directory that holds the entry (0 for the destination itself).
    pub(crate) fn parent_depth(&self) -> usize {
        self.path.len().saturating_sub(1)
    }

    /// The parents to create first, shallowest first.
    pub(crate) fn dirs_to_create(&self) -> impl Iterator<Item = &[OsString]> {
        (self.first_missing..self.parent_depth()).map(|i| &self.path[..=i])
    }
}

/// A path being resolved, with its lookup key kept up to date incrementally so that
/// resolving a path costs time linear in its length.
struct Cursor {
    comps: Vec<OsString>,
    key: Vec<u8>,
    key_lens: Vec<usize>,
}

impl Cursor {
    fn new() -> Cursor {
        Cursor { comps: Vec::new(), key: Vec::new(), key_lens: Vec::new() }
    }

    fn push(&mut self, name: OsString) {
        self.key_lens.push(self.key.len());
        if !self.key.is_empty() {
            self.key.push(b'/');
        }
        self.key.extend_from_slice(name.as_bytes());
        self.comps.push(name);
    }

    fn pop(&mut self) -> bool {
        match self.key_lens.pop() {
            Some(len) => {
                self.key.truncate(len);
                self.comps.pop();
                true
            }
            None => false,
        }
    }
}

/// The extracted tree; the destination root is implicit and always a directory.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: HashMap<Vec<u8>, Node>,
}

fn key(components: &[OsString]) -> Vec<u8> {
    let mut k = Vec::new();
    for (i, c) in components.iter().enumerate() {
        if i > 0 {
            k.push(b'/');
        }
        k.extend_from_slice(c.as_bytes());
    }
    k
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree::default()
    }

    fn get(&self, path: &[OsString]) -> Option<&Node> {
        self.nodes.get(&key(path))
    }

    pub(crate) fn insert(&mut self, path: &[OsString], node: Node) {
        self.nodes.insert(key(path), node);
    }

    pub(crate) fn remove(&mut self, path: &[OsString]) {
        self.nodes.remove(&key(path));
    }

    /// Resolve the directory `comps` names. Returns its real path and the index of its
    /// first component that does not exist yet (`None` when it all exists). With `follow`
    /// false, a symlink on the way is refused; with it true, symlinks are followed like the
    /// kernel does, and going above the destination is refused.
    fn resolve_dir(&self, comps: &[OsString], follow: bool) -> Result<(Vec<OsString>, Option<usize>), Refusal> {
        let mut cur = Cursor::new();
        let mut queue: VecDeque<TargetComp> = comps.iter().cloned().map(TargetComp::Name).collect();
        let mut hops = 0;
        let mut via = String::new();
        while let Some(c) = queue.pop_front() {
            let name = match c {
                TargetComp::Parent => {
                    if !cur.pop() {
                        return Err(Refusal::EscapesThroughSymlink { symlink: via });
                    }
                    continue;
                }
                TargetComp::Name(n) => n,
            };
            cur.push(name);
            match self.nodes.get(&cur.key) {
                Some(Node::Dir) => {}
                Some(Node::File) => {
                    return Err(Refusal::ParentNotDirectory { parent: display_components(&cur.comps) });
                }
                Some(Node::Symlink(target)) => {
                    if !follow {
                        return Err(Refusal::ThroughSymlink { symlink: display_components(&cur.comps) });
                    }
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(Refusal::SymlinkLoop);
                    }
                    via = display_components(&cur.comps);
                    cur.pop();
                    let expanded: Vec<TargetComp> = target.comps().collect();
                    for t in expanded.into_iter().rev() {
                        queue.push_front(t);
                    }
                }
                None => {
                    // From here on nothing exists: the rest is created, by names only.
                    let first_missing = cur.comps.len() - 1;
                    for rest in queue {
                        match rest {
                            TargetComp::Name(n) => cur.push(n),
                            // A '..' is only ever a leading part of a symlink target and is
                            // consumed while the path still exists, so this cannot happen.
                            TargetComp::Parent => {
                                return Err(Refusal::EscapesThroughSymlink { symlink: via });
                            }
                        }
                    }
                    return Ok((cur.comps, Some(first_missing)));
                }
            }
        }
        Ok((cur.comps, None))
    }

    /// Where an entry named `path` goes, and what is there now. The last component is never
    /// followed: an entry replaces a symlink, it does not write through it.
    pub(crate) fn place(&self, path: &RelPath, follow: bool) -> Result<Placement, Refusal> {
        let comps = path.components();
        let Some((name, parent)) = comps.split_last() else {
            return Err(Refusal::EmptyLinkTarget);
        };
        let (mut real, missing) = self.resolve_dir(parent, follow)?;
        real.push(name.clone());
        let first_missing = missing.unwrap_or(real.len() - 1);
        let existing = if missing.is_none() {
            match self.get(&real) {
                None => Existing::Nothing,
                Some(Node::Dir) => Existing::Dir,
                Some(Node::File) => Existing::File,
                Some(Node::Symlink(_)) => Existing::Symlink,
            }
        } else {
            Existing::Nothing
        };
        Ok(Placement { path: real, first_missing, existing })
    }

    /// The real path of the regular file a hard link entry points at.
    pub(crate) fn hardlink_source(&self, target: &RelPath, follow: bool) -> Result<Vec<OsString>, Refusal> {
        let shown = target.display();
        let p = self.place(target, follow)?;
        if p.dirs_to_create().next().is_some() {
            return Err(Refusal::HardlinkTargetMissing { target: shown });
        }
        match p.existing {
            Existing::File => Ok(p.path),
            Existing::Nothing => Err(Refusal::HardlinkTargetMissing { target: shown }),
            Existing::Dir | Existing::Symlink => Err(Refusal::HardlinkToNonFile { target: shown }),
        }
    }
}

/// A symlink in a directory `parent_depth` deep may climb at most that many levels.
pub(crate) fn check_symlink(parent_depth: usize, target: &SymlinkTarget, raw: &[u8]) -> Result<(), Refusal> {
    if target.ups > parent_depth {
        return Err(Refusal::SymlinkEscapes { target: String::from_utf8_lossy(raw).into_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::parse_symlink_target;

    fn rel(s: &str) -> RelPath {
        RelPath::from_valid(s.split('/').map(OsString::from).collect()).unwrap()
    }

    fn comps(s: &str) -> Vec<OsString> {
        s.split('/').map(OsString::from).collect()
    }

    fn link(t: &mut Tree, at: &str, target: &str) {
        let parsed = parse_symlink_target(target.as_bytes()).unwrap();
        let p = t.place(&rel(at), true).unwrap();
        check_symlink(p.parent_depth(), &parsed, target.as_bytes()).unwrap();
        t.insert(&p.path, Node::Symlink(parsed));
    }

    #[test]
    fn missing_parents_are_created_shallowest_first() {
        let mut t = Tree::new();
        t.insert(&comps("a"), Node::Dir);
        let p = t.place(&rel("a/b/c/d"), false).unwrap();
        assert_eq!(p.path, comps("a/b/c/d"));
        let dirs: Vec<&[OsString]> = p.dirs_to_create().collect();
        assert_eq!(dirs, vec![&comps("a/b")[..], &comps("a/b/c")[..]]);
        assert_eq!(p.existing, Existing::Nothing);
    }

    #[test]
    fn a_symlink_in_the_path_is_refused_unless_followed() {
        let mut t = Tree::new();
        t.insert(&comps("lib64"), Node::Dir);
        link(&mut t, "lib", "lib64");
        assert_eq!(t.place(&rel("lib/libc.so"), false), Err(Refusal::ThroughSymlink { symlink: "lib".into() }));
        let p = t.place(&rel("lib/libc.so"), true).unwrap();
        assert_eq!(p.path, comps("lib64/libc.so"));
    }

    #[test]
    fn the_last_component_is_not_followed() {
        let mut t = Tree::new();
        t.insert(&comps("d"), Node::Dir);
        link(&mut t, "l", "d");
        let p = t.place(&rel("l"), true).unwrap();
        assert_eq!(p.path, comps("l"));
        assert_eq!(p.existing, Existing::Symlink);
    }

    #[test]
    fn following_applies_dotdot_to_the_real_parent() {
        let mut t = Tree::new();
        t.insert(&comps("x"), Node::Dir);
        t.insert(&comps("x/y"), Node::Dir);
        link(&mut t, "x/y/up", "../../z");
        let p = t.place(&rel("x/y/up/f"), true).unwrap();
        assert_eq!(p.path, comps("z/f"));
        let dirs: Vec<&[OsString]> = p.dirs_to_create().collect();
        assert_eq!(dirs, vec![&comps("z")[..]]);
    }

    #[test]
    fn symlink_depth_rule() {
        let target = parse_symlink_target(b"../../a").unwrap();
        assert!(check_symlink(2, &target, b"../../a").is_ok());
        assert!(matches!(check_symlink(1, &target, b"../../a"), Err(Refusal::SymlinkEscapes { .. })));
    }

    #[test]
    fn loops_are_bounded() {
        let mut t = Tree::new();
        link(&mut t, "a", "b");
        link(&mut t, "b", "a");
        assert_eq!(t.place(&rel("a/x"), true), Err(Refusal::SymlinkLoop));
    }

    #[test]
    fn files_are_not_directories() {
        let mut t = Tree::new();
        t.insert(&comps("f"), Node::File);
        assert!(matches!(t.place(&rel("f/x"), true), Err(Refusal::ParentNotDirectory { .. })));
    }

    #[test]
    fn hardlink_sources() {
        let mut t = Tree::new();
        t.insert(&comps("f"), Node::File);
        t.insert(&comps("d"), Node::Dir);
        assert_eq!(t.hardlink_source(&rel("f"), false).unwrap(), comps("f"));
        assert!(matches!(t.hardlink_source(&rel("d"), false), Err(Refusal::HardlinkToNonFile { .. })));
        assert!(matches!(t.hardlink_source(&rel("nope/x"), false), Err(Refusal::HardlinkTargetMissing { .. })));
    }
}
