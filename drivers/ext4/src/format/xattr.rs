//! Extended attributes: name-prefix indexes, the in-inode area and the shared xattr block,
//! entry and block hashes, and the conversion of POSIX ACLs to ext4's compact on-disk form.
//! Input names and values come from the manifest; this module checks what the format limits.

use super::csum::crc32c_raw;
use super::inode::INLINE_XATTR_SPACE;
use super::{put_u8, put_u16, put_u32, put_u64, round4};

pub const MAGIC: u32 = 0xEA02_0000;
const BLOCK_HEADER: usize = 32;
const ENTRY_HEADER: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XattrError {
    #[error(
        "xattr name {name:?} has no supported prefix (user., trusted., security., system.posix_acl_access, system.posix_acl_default)"
    )]
    UnsupportedPrefix { name: String },
    #[error("xattr name {name:?} is empty after its prefix")]
    EmptyName { name: String },
    #[error("xattr name {name:?} is longer than 255 bytes after its prefix")]
    NameTooLong { name: String },
    #[error("xattr {name:?} appears twice")]
    Duplicate { name: String },
    #[error("xattr {name:?}: POSIX ACL value is malformed ({why})")]
    BadAcl { name: String, why: &'static str },
    #[error(
        "xattrs do not fit: {bytes} bytes needed outside the inode, one {block_size}-byte xattr block holds {capacity}"
    )]
    TooLarge { bytes: usize, block_size: u32, capacity: usize },
}

/// One attribute as stored: name index, name suffix, value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attr {
    pub index: u8,
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

impl Attr {
    /// Parse a full attribute name (`security.capability`) and its value. POSIX ACL values are
    /// taken in the kernel's xattr (getfattr) format and converted to ext4's on-disk format.
    pub fn new(full_name: &[u8], value: &[u8]) -> Result<Attr, XattrError> {
        let shown = || String::from_utf8_lossy(full_name).into_owned();
        let (index, suffix): (u8, &[u8]) = if full_name == b"system.posix_acl_access" {
            (2, b"")
        } else if full_name == b"system.posix_acl_default" {
            (3, b"")
        } else if let Some(s) = full_name.strip_prefix(b"user.") {
            (1, s)
        } else if let Some(s) = full_name.strip_prefix(b"trusted.") {
            (4, s)
        } else if let Some(s) = full_name.strip_prefix(b"security.") {
            (6, s)
        } else {
            return Err(XattrError::UnsupportedPrefix { name: shown() });
        };
        if suffix.is_empty() && index != 2 && index != 3 {
            return Err(XattrError::EmptyName { name: shown() });
        }
        if suffix.len() > 255 {
            return Err(XattrError::NameTooLong { name: shown() });
        }
        let value = if index == 2 || index == 3 {
            acl_to_disk(value).map_err(|why| XattrError::BadAcl { name: shown(), why })?
        } else {
            value.to_vec()
        };
        Ok(Attr { index, name: suffix.to_vec(), value })
    }

    fn entry_len(&self) -> usize {
        round4(ENTRY_HEADER + self.name.len())
    }

    fn value_len(&self) -> usize {
        round4(self.value.len())
    }

    /// The kernel's sort key for attributes in a block: index, name length, name.
    fn key(&self) -> (u8, usize, &[u8]) {
        (self.index, self.name.len(), &self.name)
    }

    /// `ext4_xattr_hash_entry`: name bytes (unsigned) then the zero-padded value as le32 words.
    fn hash(&self) -> u32 {
        let mut h: u32 = 0;
        for &c in &self.name {
            h = (h << 5) ^ (h >> 27) ^ u32::from(c);
        }
        let mut padded = self.value.clone();
        padded.resize(self.value_len(), 0);
        for w in padded.chunks_exact(4) {
            h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        h
    }
}

/// Sort attributes the way the kernel expects them and reject duplicates.
pub fn sort_attrs(attrs: &mut [Attr], full_names: impl Fn(&Attr) -> String) -> Result<(), XattrError> {
    attrs.sort_by(|a, b| a.key().cmp(&b.key()));
    for w in attrs.windows(2) {
        if w[0].key() == w[1].key() {
            return Err(XattrError::Duplicate { name: full_names(&w[0]) });
        }
    }
    Ok(())
}

/// Split sorted attributes between the inode (returned as the encoded in-inode area, empty if
/// none) and the xattr block (returned as the list that goes there).
pub fn place(attrs: &[Attr]) -> (Vec<u8>, Vec<Attr>) {
    // The area holds the magic, entries, a 4-byte terminator and the values.
    let mut used = 4 + 4;
    let mut inline = Vec::new();
    let mut block = Vec::new();
    for a in attrs {
        let need = a.entry_len() + a.value_len();
        if used + need <= INLINE_XATTR_SPACE {
            used += need;
            inline.push(a.clone());
        } else {
            block.push(a.clone());
        }
    }
    if inline.is_empty() {
        return (Vec::new(), block);
    }
    let mut area = vec![0u8; INLINE_XATTR_SPACE];
    put_u32(&mut area, 0, MAGIC);
    // Entries and value offsets are relative to the first entry (just after the magic).
    write_entries(&mut area[4..], &inline, 0);
    (area, block)
}

/// Bytes one block of these attributes needs (header, entries, terminator, values).
pub fn block_bytes(attrs: &[Attr]) -> usize {
    BLOCK_HEADER + attrs.iter().map(|a| a.entry_len() + a.value_len()).sum::<usize>() + 4
}

/// Check that attributes fit in one xattr block.
pub fn check_block(attrs: &[Attr], block_size: u32) -> Result<(), XattrError> {
    let bytes = block_bytes(attrs);
    if bytes > block_size as usize {
        return Err(XattrError::TooLarge { bytes, block_size, capacity: block_size as usize });
    }
    Ok(())
}

/// Encode an xattr block body (refcount and checksum are filled by `seal_block`).
pub fn encode_block(attrs: &[Attr], block_size: u32) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    put_u32(&mut b, 0, MAGIC);
    put_u32(&mut b, 8, 1);
    let hashes = write_entries(&mut b[BLOCK_HEADER..], attrs, BLOCK_HEADER);
    let mut h: u32 = 0;
    for eh in hashes {
        h = (h << 16) ^ (h >> 16) ^ eh;
    }
    put_u32(&mut b, 12, h);
    b
}

/// Set the reference count and, with `metadata_csum`, the checksum of an encoded block.
pub fn seal_block(b: &mut [u8], refcount: u32, blocknr: u64, fs_seed: Option<u32>) {
    put_u32(b, 4, refcount);
    put_u32(b, 16, 0);
    if let Some(seed) = fs_seed {
        let mut nr = [0u8; 8];
        put_u64(&mut nr, 0, blocknr);
        let crc = crc32c_raw(crc32c_raw(seed, &nr), b);
        put_u32(b, 16, crc);
    }
}

/// Write entries from the start of `region` and values from its end. `base` is added to the
/// value offsets (a block's offsets count from the block start). Returns the entry hashes.
fn write_entries(region: &mut [u8], attrs: &[Attr], base: usize) -> Vec<u32> {
    let mut pos = 0;
    let mut vend = region.len();
    let mut hashes = Vec::with_capacity(attrs.len());
    for a in attrs {
        let voff = if a.value.is_empty() {
            0
        } else {
            vend -= a.value_len();
            region[vend..vend + a.value.len()].copy_from_slice(&a.value);
            vend + base
        };
        let h = a.hash();
        put_u8(region, pos, a.name.len() as u8);
        put_u8(region, pos + 1, a.index);
        put_u16(region, pos + 2, voff as u16);
        put_u32(region, pos + 4, 0);
        put_u32(region, pos + 8, a.value.len() as u32);
        put_u32(region, pos + 12, h);
        region[pos + ENTRY_HEADER..pos + ENTRY_HEADER + a.name.len()].copy_from_slice(&a.name);
        pos += a.entry_len();
        hashes.push(h);
    }
    hashes
}

/// Convert a POSIX ACL from the xattr interface format (version 2, 8-byte entries) to the
/// ext4 on-disk format (version 1; 4-byte entries for the owner/group/mask/other tags).
fn acl_to_disk(v: &[u8]) -> Result<Vec<u8>, &'static str> {
    const USER_OBJ: u16 = 0x01;
    const USER: u16 = 0x02;
    const GROUP_OBJ: u16 = 0x04;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    const OTHER: u16 = 0x20;
    if v.len() < 4 || !(v.len() - 4).is_multiple_of(8) {
        return Err("length is not 4 + 8n bytes");
    }
    if u32::from_le_bytes([v[0], v[1], v[2], v[3]]) != 2 {
        return Err("version is not 2");
    }
    let mut out = 1u32.to_le_bytes().to_vec();
    for e in v[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        if perm & !7 != 0 {
            return Err("permission bits beyond rwx");
        }
        out.extend_from_slice(&e[0..4]);
        match tag {
            USER_OBJ | GROUP_OBJ | MASK | OTHER => {}
            USER | GROUP => out.extend_from_slice(&e[4..8]),
            _ => return Err("unknown tag"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_indexes() {
        assert_eq!(Attr::new(b"security.capability", b"x").unwrap().index, 6);
        assert_eq!(Attr::new(b"user.a", b"").unwrap().index, 1);
        assert!(matches!(Attr::new(b"system.data", b""), Err(XattrError::UnsupportedPrefix { .. })));
        assert!(matches!(Attr::new(b"user.", b""), Err(XattrError::EmptyName { .. })));
    }

    #[test]
    fn small_attrs_go_inline_big_ones_to_the_block() {
        let a = Attr::new(b"user.small", b"1234").unwrap();
        let b = Attr::new(b"user.big", &[7u8; 200]).unwrap();
        let (inline, block) = place(&[a.clone(), b.clone()]);
        assert_eq!(inline.len(), INLINE_XATTR_SPACE);
        assert_eq!(block, vec![b]);
    }

    #[test]
    fn acl_conversion_shrinks_object_entries() {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in
            [(1u16, 6u16, u32::MAX), (2, 4, 1000), (4, 4, u32::MAX), (0x10, 4, u32::MAX), (0x20, 4, u32::MAX)]
        {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        let d = acl_to_disk(&v).unwrap();
        assert_eq!(d.len(), 4 + 4 + 8 + 4 + 4 + 4);
    }
}
