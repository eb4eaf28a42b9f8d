//! Command-line surface of the ext4 writer: the options as a `clap::Args` struct that both the
//! `yoe-ext4` binary and `yoe image ext4` flatten, and `run`, which turns them into an image.

use std::path::PathBuf;

use crate::ImageError;
use crate::content::{ContentError, Sources};
use crate::format::Timestamp;
use crate::from_dir::{FromDirError, Owner, manifest_from_dir};
use crate::manifest::{Format, Manifest, ManifestError, parse_timestamp};
use crate::options::{Features, FsType, Inodes, Options, OptionsError, Size, parse_size, parse_uuid};
use crate::writer::{Report, write_image};

/// Write an ext4 image from a manifest (or a directory tree).
#[derive(Clone, Debug, clap::Args)]
pub struct Ext4Args {
    /// Manifest listing every entry (JSON or the line format).
    #[arg(long, value_name = "FILE", required_unless_present = "from_dir", conflicts_with = "from_dir")]
    pub manifest: Option<PathBuf>,
    /// Manifest format; guessed from the first byte (`{` is JSON) when not given.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub manifest_format: Option<Format>,
    /// Staging tree that `src` paths (and file entries without content) are read from.
    #[arg(long, value_name = "DIR", conflicts_with = "from_dir")]
    pub staging: Option<PathBuf>,
    /// Content store: objects named by the hex SHA-256 of their content.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Describe the image by a directory tree instead of a manifest (debugging, benchmarks).
    #[arg(long, value_name = "DIR")]
    pub from_dir: Option<PathBuf>,
    /// With --from-dir: owner of every entry, instead of the owners found on disk.
    #[arg(long, value_name = "UID:GID", requires = "from_dir")]
    pub owner: Option<Owner>,
    /// Image file to write (through a temporary file in the same directory).
    #[arg(long, value_name = "IMG")]
    pub out: PathBuf,
    /// Image size in bytes, with an optional K, M, G or T suffix; computed when not given.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub size: Option<u64>,
    /// With a computed size: free space to leave, in percent of the content.
    #[arg(long, value_name = "PERCENT", default_value_t = 20, conflicts_with = "size")]
    pub margin: u32,
    /// Block size: 1024, 2048 or 4096.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub block_size: u32,
    /// Number of inodes (rounded up per group).
    #[arg(long, value_name = "COUNT", conflicts_with = "inode_ratio")]
    pub inodes: Option<u32>,
    /// One inode per this many bytes; raised to fit the manifest.
    #[arg(long, value_name = "BYTES")]
    pub inode_ratio: Option<u32>,
    /// Volume label (at most 16 bytes).
    #[arg(long, value_name = "LABEL", default_value = "")]
    pub label: String,
    /// Filesystem UUID; derived from the manifest and options when not given.
    #[arg(long, value_name = "UUID", value_parser = parse_uuid_arg)]
    pub uuid: Option<[u8; 16]>,
    /// Directory hash seed (a UUID); derived from the manifest and options when not given.
    #[arg(long, value_name = "UUID", value_parser = parse_uuid_arg)]
    pub hash_seed: Option<[u8; 16]>,
    /// Blocks reserved for root, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5)]
    pub reserved_percent: u32,
    /// Starting feature set.
    #[arg(long, value_enum, default_value = "ext4")]
    pub fs_type: FsType,
    /// Feature changes in mke2fs -O style, e.g. `^has_journal` or `^metadata_csum,^64bit`.
    #[arg(long, value_name = "LIST")]
    pub features: Option<String>,
    /// Journal size in blocks; mke2fs's default for the image size when not given.
    #[arg(long, value_name = "BLOCKS")]
    pub journal_blocks: Option<u32>,
    /// Time for entries that give none and for the superblock: SECONDS[.NANOS] since the epoch.
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH", value_parser = parse_time_arg)]
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading manifest {path}: {source}")]
    ReadManifest { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    FromDir(#[from] FromDirError),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

fn parse_uuid_arg(s: &str) -> Result<[u8; 16], String> {
    parse_uuid(s).map_err(|e| e.to_string())
}

fn parse_time_arg(s: &str) -> Result<Timestamp, String> {
    parse_timestamp(s)
}

impl Ext4Args {
    /// The filesystem options these arguments describe.
    pub fn options(&self) -> Result<Options, OptionsError> {
        let mut features = Features::for_type(self.fs_type);
        if let Some(list) = &self.features {
            features.apply(list)?;
        }
        let o = Options {
            size: match self.size {
                Some(n) => Size::Fixed(n),
                None => Size::Auto { margin_percent: self.margin },
            },
            block_size: self.block_size,
            inodes: match (self.inodes, self.inode_ratio) {
                (Some(n), _) => Inodes::Count(n),
                (None, Some(r)) => Inodes::Ratio(r),
                (None, None) => Inodes::Ratio(16384),
            },
            label: self.label.as_bytes().to_vec(),
            uuid: self.uuid,
            hash_seed: self.hash_seed,
            reserved_percent: self.reserved_percent,
            features,
            journal_blocks: self.journal_blocks,
            default_time: self.timestamp.unwrap_or_default(),
        };
        o.check()?;
        Ok(o)
    }
}

/// Write the image the arguments describe.
pub fn run(args: &Ext4Args) -> Result<Report, Error> {
    let opts = args.options()?;
    let (manifest, staging) = match (&args.manifest, &args.from_dir) {
        (_, Some(dir)) => (manifest_from_dir(dir, args.owner)?, Some(dir.clone())),
        (Some(path), None) => {
            let bytes = std::fs::read(path).map_err(|source| Error::ReadManifest { path: path.clone(), source })?;
            let format = args.manifest_format.unwrap_or_else(|| Manifest::detect(&bytes));
            (Manifest::parse(&bytes, format)?, args.staging.clone())
        }
        (None, None) => (Manifest::default(), args.staging.clone()),
    };
    let sources = Sources::new(staging.as_deref(), args.store.as_deref())?;
    Ok(write_image(&manifest, &sources, &opts, &args.out)?)
}
