//! Derived identifiers: the filesystem UUID and directory hash seed are a hash of everything
//! that defines the image (the validated tree and the options), so the same input always
//! gives the same image and different inputs different UUIDs.

use sha2::{Digest, Sha256};

use crate::options::{Inodes, Options, Size};
use crate::tree::{NodeKind, Tree};

/// (uuid, hash seed), each with RFC 9562 version 8 and variant bits.
pub fn derive(tree: &Tree, o: &Options) -> ([u8; 16], [u8; 16]) {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(b"yoe-ext4 image v1");
    field(&o.block_size.to_le_bytes());
    match o.size {
        Size::Fixed(n) => field(&[b"fixed".as_slice(), &n.to_le_bytes()].concat()),
        Size::Auto { margin_percent } => field(&[b"auto".as_slice(), &margin_percent.to_le_bytes()].concat()),
    }
    match o.inodes {
        Inodes::Ratio(r) => field(&[b"ratio".as_slice(), &r.to_le_bytes()].concat()),
        Inodes::Count(c) => field(&[b"count".as_slice(), &c.to_le_bytes()].concat()),
    }
    field(&o.label);
    field(&o.reserved_percent.to_le_bytes());
    field(o.features.names().join(",").as_bytes());
    field(&o.journal_blocks.unwrap_or(0).to_le_bytes());
    field(&o.default_time.secs.to_le_bytes());
    field(&o.default_time.nanos.to_le_bytes());
    let mut idx: Vec<usize> = (0..tree.nodes.len()).collect();
    idx.sort_unstable_by(|&a, &b| tree.nodes[a].path.cmp(&tree.nodes[b].path));
    for i in idx {
        let n = &tree.nodes[i];
        field(&n.path);
        match &n.kind {
            NodeKind::Dir { .. } => field(b"dir"),
            NodeKind::File(c) => {
                field(b"file");
                field(c.src.as_deref().unwrap_or(b"-"));
                field(c.sha256.as_ref().map_or(&[][..], |s| &s[..]));
                let data_hash: [u8; 32] = c.data.as_ref().map_or([0; 32], |d| Sha256::digest(d).into());
                field(&data_hash);
                field(&c.size.map_or(u64::MAX, |s| s).to_le_bytes());
            }
            NodeKind::Symlink(t) => {
                field(b"symlink");
                field(t);
            }
            NodeKind::CharDev { major, minor } => {
                field(&[b"char".as_slice(), &major.to_le_bytes(), &minor.to_le_bytes()].concat())
            }
            NodeKind::BlockDev { major, minor } => {
                field(&[b"block".as_slice(), &major.to_le_bytes(), &minor.to_le_bytes()].concat())
            }
            NodeKind::Fifo => field(b"fifo"),
            NodeKind::Socket => field(b"socket"),
            NodeKind::HardLink(t) => {
                field(b"hardlink");
                field(&tree.nodes[*t].path);
            }
        }
        let m = &n.meta;
        field(&m.perm.to_le_bytes());
        field(&m.uid.to_le_bytes());
        field(&m.gid.to_le_bytes());
        for t in [m.mtime, m.atime, m.ctime] {
            field(&t.secs.to_le_bytes());
            field(&t.nanos.to_le_bytes());
        }
        for a in &m.xattrs {
            field(&[a.index]);
            field(&a.name);
            field(&a.value);
        }
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut uuid: [u8; 16] = digest[..16].try_into().unwrap_or([0; 16]);
    let mut seed: [u8; 16] = digest[16..].try_into().unwrap_or([0; 16]);
    for u in [&mut uuid, &mut seed] {
        u[6] = (u[6] & 0x0f) | 0x80;
        u[8] = (u[8] & 0x3f) | 0x80;
    }
    (uuid, seed)
}
