//! The validated tree: turns manifest entries (any order) into directories with sorted
//! children, resolves hard links, adds the root and `lost+found` when missing, checks every
//! tree rule (duplicates, parents, names, link targets, limits) and numbers the inodes.
//! Trusts nothing about the manifest beyond its parsed syntax.

use std::collections::HashMap;

use crate::format::xattr::{self, Attr, XattrError};
use crate::format::{FileType, ROOT_INO, Timestamp};
use crate::manifest::{EntryRef, FileContent, Kind, Location, Manifest, show_bytes};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{0}: path is empty (use `/` for the root)")]
    EmptyPath(EntryRef),
    #[error("{0}: path has an empty, `.` or `..` component; write each path in normal form like /usr/bin/sh")]
    BadComponent(EntryRef),
    #[error("{0}: a name contains a NUL byte")]
    NulInName(EntryRef),
    #[error("{0}: name `{1}` is {2} bytes, at most 255 fit")]
    NameTooLong(EntryRef, String, usize),
    #[error("{0}: duplicate path, first given at {1}")]
    Duplicate(EntryRef, Location),
    #[error("{0}: parent directory `{1}` is not in the manifest")]
    MissingParent(EntryRef, String),
    #[error("{0}: parent `{1}` is a {2}, not a directory")]
    ParentNotDir(EntryRef, String, &'static str),
    #[error("{0}: the root must be a directory")]
    RootNotDir(EntryRef),
    #[error("{0}: hard link target `{1}` is not in the manifest")]
    MissingLinkTarget(EntryRef, String),
    #[error("{0}: hard link target `{1}` is a directory; directories cannot be hard-linked")]
    LinkToDir(EntryRef, String),
    #[error("{0}: hard links form a cycle")]
    LinkCycle(EntryRef),
    #[error("{0}: `{1}` would have {2} links, ext4 allows 65000")]
    TooManyLinks(EntryRef, String, u64),
    #[error("{0}: directory has {1} subdirectories; more than 64998 needs the dir_nlink feature")]
    TooManySubdirs(EntryRef, u64),
    #[error("{0}: symlink target is empty")]
    EmptySymlink(EntryRef),
    #[error("{0}: symlink target contains a NUL byte")]
    NulInSymlink(EntryRef),
    #[error("{0}: symlink target is {1} bytes, at most {2} fit with {3}-byte blocks")]
    SymlinkTooLong(EntryRef, usize, usize, u32),
    #[error("{0}: {1}")]
    Xattr(EntryRef, XattrError),
    #[error("{0}: `user.` xattrs belong on files and directories only (the kernel hides them on a {1})")]
    UserXattrOnSpecial(EntryRef, &'static str),
    #[error("{0}: `src` is empty or contains a NUL byte")]
    BadSrc(EntryRef),
    #[error("too many inodes: {0} entries need inode numbers beyond 2^32")]
    TooManyInodes(usize),
}

/// Defaults for fields an entry leaves out.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub time: Timestamp,
    pub block_size: u32,
    /// The `dir_nlink` feature: directories with more than 64998 subdirectories get link count 1.
    pub dir_nlink: bool,
}

/// Ownership, permissions, times and xattrs of one inode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    /// Permission bits only (0..=0o7777).
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timestamp,
    pub atime: Timestamp,
    pub ctime: Timestamp,
    /// Sorted the way the kernel wants them; unique.
    pub xattrs: Vec<Attr>,
}

/// What a node is, after validation.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// Children as (name, node index), sorted by name bytes.
    Dir {
        children: Vec<(Vec<u8>, usize)>,
    },
    File(FileContent),
    Symlink(Vec<u8>),
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
    /// Another name for the inode of this node (never itself a hard link).
    HardLink(usize),
}

impl NodeKind {
    pub fn file_type(&self) -> Option<FileType> {
        Some(match self {
            NodeKind::Dir { .. } => FileType::Dir,
            NodeKind::File(_) => FileType::Regular,
            NodeKind::Symlink(_) => FileType::Symlink,
            NodeKind::CharDev { .. } => FileType::CharDev,
            NodeKind::BlockDev { .. } => FileType::BlockDev,
            NodeKind::Fifo => FileType::Fifo,
            NodeKind::Socket => FileType::Socket,
            NodeKind::HardLink(_) => return None,
        })
    }

    fn name(&self) -> &'static str {
        match self {
            NodeKind::Dir { .. } => "directory",
            NodeKind::File(_) => "file",
            NodeKind::Symlink(_) => "symlink",
            NodeKind::CharDev { .. } => "character device",
            NodeKind::BlockDev { .. } => "block device",
            NodeKind::Fifo => "fifo",
            NodeKind::Socket => "socket",
            NodeKind::HardLink(_) => "hard link",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    /// Normalised path without a leading slash (empty for the root).
    pub path: Vec<u8>,
    pub parent: usize,
    pub kind: NodeKind,
    pub meta: Meta,
    /// Inode number (the target's for a hard link).
    pub ino: u32,
    /// Link count to store in the inode.
    pub links: u16,
    pub at: Location,
}

impl Node {
    pub fn entry_ref(&self) -> EntryRef {
        let mut p = b"/".to_vec();
        p.extend_from_slice(&self.path);
        EntryRef { at: self.at.clone(), path: p }
    }

    pub fn file_type(&self, tree: &Tree) -> FileType {
        match self.kind {
            NodeKind::HardLink(t) => tree.nodes[t].kind.file_type().unwrap_or(FileType::Regular),
            ref k => k.file_type().unwrap_or(FileType::Regular),
        }
    }
}

/// The whole tree. `nodes[0]` is the root; `order` lists inode-owning nodes by inode number.
#[derive(Clone, Debug)]
pub struct Tree {
    pub nodes: Vec<Node>,
    pub order: Vec<usize>,
    /// Highest inode number used.
    pub max_ino: u32,
}

const LINK_MAX: u64 = 65000;

impl Tree {
    pub fn build(m: &Manifest, d: &Defaults) -> Result<Tree, TreeError> {
        let mut nodes: Vec<Node> = Vec::with_capacity(m.entries.len() + 2);
        let mut by_path: HashMap<Vec<u8>, usize> = HashMap::with_capacity(m.entries.len() + 2);
        let mut root_given = false;

        for e in &m.entries {
            let r = e.entry_ref();
            let path = normalize(&e.path, &r)?;
            if let Some(&prev) = by_path.get(&path) {
                return Err(TreeError::Duplicate(r, nodes[prev].at.clone()));
            }
            let kind = match &e.kind {
                Kind::Dir => NodeKind::Dir { children: Vec::new() },
                Kind::File(c) => {
                    if let Some(src) = &c.src
                        && (src.is_empty() || src.contains(&0))
                    {
                        return Err(TreeError::BadSrc(r));
                    }
                    NodeKind::File(c.clone())
                }
                Kind::Symlink { target } => {
                    check_symlink(target, d.block_size, &r)?;
                    NodeKind::Symlink(target.clone())
                }
                Kind::HardLink { .. } => NodeKind::HardLink(usize::MAX),
                Kind::CharDev { major, minor } => NodeKind::CharDev { major: *major, minor: *minor },
                Kind::BlockDev { major, minor } => NodeKind::BlockDev { major: *major, minor: *minor },
                Kind::Fifo => NodeKind::Fifo,
                Kind::Socket => NodeKind::Socket,
            };
            if path.is_empty() {
                if !matches!(kind, NodeKind::Dir { .. }) {
                    return Err(TreeError::RootNotDir(r));
                }
                root_given = true;
            }
            let default_perm = match kind {
                NodeKind::Dir { .. } => 0o755,
                NodeKind::File(_) => 0o644,
                NodeKind::Symlink(_) => 0o777,
                _ => 0o600,
            };
            let mtime = e.mtime.unwrap_or(d.time);
            let mut xattrs = Vec::with_capacity(e.xattrs.len());
            for (name, value) in &e.xattrs {
                xattrs.push(Attr::new(name, value).map_err(|x| TreeError::Xattr(r.clone(), x))?);
            }
            xattr::sort_attrs(&mut xattrs, attr_name).map_err(|x| TreeError::Xattr(r.clone(), x))?;
            if xattrs.iter().any(|a| a.index == 1) && !matches!(kind, NodeKind::Dir { .. } | NodeKind::File(_)) {
                return Err(TreeError::UserXattrOnSpecial(r, kind.name()));
            }
            let meta = Meta {
                perm: e.mode.unwrap_or(default_perm),
                uid: e.uid.unwrap_or(0),
                gid: e.gid.unwrap_or(0),
                mtime,
                atime: e.atime.unwrap_or(mtime),
                ctime: e.ctime.unwrap_or(mtime),
                xattrs,
            };
            by_path.insert(path.clone(), nodes.len());
            nodes.push(Node { path, parent: usize::MAX, kind, meta, ino: 0, links: 0, at: e.at.clone() });
        }

        let implicit_dir = |path: &[u8], perm: u16| Node {
            path: path.to_vec(),
            parent: usize::MAX,
            kind: NodeKind::Dir { children: Vec::new() },
            meta: Meta { perm, uid: 0, gid: 0, mtime: d.time, atime: d.time, ctime: d.time, xattrs: Vec::new() },
            ino: 0,
            links: 0,
            at: Location::Implicit,
        };
        if !root_given {
            by_path.insert(Vec::new(), nodes.len());
            nodes.push(implicit_dir(b"", 0o755));
        }
        if !by_path.contains_key(b"lost+found".as_slice()) {
            by_path.insert(b"lost+found".to_vec(), nodes.len());
            nodes.push(implicit_dir(b"lost+found", 0o700));
        }
        // Put the root first.
        let root = by_path[b"".as_slice()];
        nodes.swap(0, root);
        by_path.insert(nodes[0].path.clone(), 0);
        by_path.insert(nodes[root].path.clone(), root);

        // Parents and children.
        let mut children: Vec<Vec<(Vec<u8>, usize)>> = vec![Vec::new(); nodes.len()];
        for i in 1..nodes.len() {
            let (parent_path, name) = split_last(&nodes[i].path);
            let (parent_path, name) = (parent_path.to_vec(), name.to_vec());
            let parent_path = parent_path.as_slice();
            let Some(&p) = by_path.get(parent_path) else {
                return Err(TreeError::MissingParent(nodes[i].entry_ref(), format!("/{}", show_bytes(parent_path))));
            };
            if !matches!(nodes[p].kind, NodeKind::Dir { .. }) {
                return Err(TreeError::ParentNotDir(
                    nodes[i].entry_ref(),
                    format!("/{}", show_bytes(parent_path)),
                    nodes[p].kind.name(),
                ));
            }
            nodes[i].parent = p;
            children[p].push((name, i));
        }
        for (i, mut c) in children.into_iter().enumerate() {
            c.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            if let NodeKind::Dir { children } = &mut nodes[i].kind {
                *children = c;
            }
        }
        nodes[0].parent = 0;

        // Hard links: resolve each to a node that owns an inode, following chains of links.
        let mut link_target: HashMap<usize, Vec<u8>> = HashMap::new();
        for e in &m.entries {
            if let Kind::HardLink { target } = &e.kind {
                let r = e.entry_ref();
                let me = by_path[&normalize(&e.path, &r)?];
                link_target.insert(me, normalize(target, &r)?);
            }
        }
        let mut links: Vec<usize> = link_target.keys().copied().collect();
        links.sort_unstable();
        for me in links {
            let r = nodes[me].entry_ref();
            let mut t_path = &link_target[&me];
            let mut steps = 0usize;
            let resolved = loop {
                let Some(&t) = by_path.get(t_path) else {
                    return Err(TreeError::MissingLinkTarget(r, format!("/{}", show_bytes(t_path))));
                };
                match &nodes[t].kind {
                    NodeKind::Dir { .. } => {
                        return Err(TreeError::LinkToDir(r, format!("/{}", show_bytes(t_path))));
                    }
                    NodeKind::HardLink(_) => {
                        steps += 1;
                        if steps > link_target.len() {
                            return Err(TreeError::LinkCycle(r));
                        }
                        t_path = &link_target[&t];
                    }
                    _ => break t,
                }
            };
            nodes[me].kind = NodeKind::HardLink(resolved);
        }

        // Inode numbers: root 2, lost+found 11 when it is a directory at the root, then
        // depth-first in name order.
        let mut order = Vec::with_capacity(nodes.len());
        let lpf =
            by_path.get(b"lost+found".as_slice()).copied().filter(|&i| matches!(nodes[i].kind, NodeKind::Dir { .. }));
        nodes[0].ino = ROOT_INO;
        order.push(0);
        let mut next: u64 = 11;
        if let Some(l) = lpf {
            nodes[l].ino = 11;
            order.push(l);
            next = 12;
        }
        let mut stack: Vec<usize> = vec![0];
        while let Some(n) = stack.pop() {
            let NodeKind::Dir { children } = &nodes[n].kind else {
                continue;
            };
            let kids: Vec<usize> = children.iter().map(|c| c.1).collect();
            for &k in &kids {
                if nodes[k].ino == 0 && !matches!(nodes[k].kind, NodeKind::HardLink(_)) {
                    if next > u64::from(u32::MAX) {
                        return Err(TreeError::TooManyInodes(nodes.len()));
                    }
                    nodes[k].ino = next as u32;
                    next += 1;
                    order.push(k);
                }
            }
            // Visit subdirectories in name order: push in reverse.
            for &k in kids.iter().rev() {
                if matches!(nodes[k].kind, NodeKind::Dir { .. }) {
                    stack.push(k);
                }
            }
        }
        // Hard links take their target's inode.
        for i in 0..nodes.len() {
            if let NodeKind::HardLink(t) = nodes[i].kind {
                nodes[i].ino = nodes[t].ino;
            }
        }

        // Link counts.
        let mut links = vec![0u64; nodes.len()];
        for i in 0..nodes.len() {
            match nodes[i].kind {
                NodeKind::Dir { ref children } => {
                    let subdirs =
                        children.iter().filter(|c| matches!(nodes[c.1].kind, NodeKind::Dir { .. })).count() as u64;
                    links[i] += 2 + subdirs;
                }
                NodeKind::HardLink(t) => links[t] += 1,
                _ => links[i] += 1,
            }
        }
        for &i in &order {
            let n = links[i];
            nodes[i].links = match nodes[i].kind {
                NodeKind::Dir { .. } if n > LINK_MAX => {
                    if !d.dir_nlink {
                        return Err(TreeError::TooManySubdirs(nodes[i].entry_ref(), n - 2));
                    }
                    1
                }
                _ if n > LINK_MAX => {
                    return Err(TreeError::TooManyLinks(
                        nodes[i].entry_ref(),
                        format!("/{}", show_bytes(&nodes[i].path)),
                        n,
                    ));
                }
                _ => n as u16,
            };
        }
        let max_ino = (next - 1) as u32;
        Ok(Tree { nodes, order, max_ino })
    }

    /// Number of inodes in use, including the reserved ones (1..=10).
    pub fn used_inodes(&self) -> u64 {
        10 + self.order.len() as u64 - 1
    }
}

fn attr_name(a: &Attr) -> String {
    let prefix = match a.index {
        1 => "user.",
        2 => "system.posix_acl_access",
        3 => "system.posix_acl_default",
        4 => "trusted.",
        6 => "security.",
        _ => "",
    };
    format!("{prefix}{}", show_bytes(&a.name))
}

/// Normalise a path: strip one leading `/`, reject empty, `.` and `..` components, NUL bytes
/// and names longer than 255 bytes. `/` and `` are the root.
fn normalize(p: &[u8], r: &EntryRef) -> Result<Vec<u8>, TreeError> {
    if p.is_empty() {
        return Err(TreeError::EmptyPath(r.clone()));
    }
    let rel = p.strip_prefix(b"/").unwrap_or(p);
    if rel.is_empty() {
        return Ok(Vec::new());
    }
    if rel.contains(&0) {
        return Err(TreeError::NulInName(r.clone()));
    }
    for comp in rel.split(|&b| b == b'/') {
        if comp.is_empty() || comp == b"." || comp == b".." {
            return Err(TreeError::BadComponent(r.clone()));
        }
        if comp.len() > 255 {
            return Err(TreeError::NameTooLong(r.clone(), show_bytes(&comp[..32]) + "...", comp.len()));
        }
    }
    Ok(rel.to_vec())
}

fn split_last(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (&[], p),
    }
}

fn check_symlink(t: &[u8], block_size: u32, r: &EntryRef) -> Result<(), TreeError> {
    if t.is_empty() {
        return Err(TreeError::EmptySymlink(r.clone()));
    }
    if t.contains(&0) {
        return Err(TreeError::NulInSymlink(r.clone()));
    }
    let max = block_size as usize - 1;
    if t.len() > max {
        return Err(TreeError::SymlinkTooLong(r.clone(), t.len(), max, block_size));
    }
    Ok(())
}
