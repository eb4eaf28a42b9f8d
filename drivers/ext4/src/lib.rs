//! yoe-ext4: a pure-Rust writer of ext4 filesystem images from an ownership manifest.
//!
//! The image is defined entirely by the manifest (paths, types, owners, modes, times, xattrs,
//! content references) and the options; nothing is taken from the building user or host, no
//! privileges are needed, and the same input gives a byte-identical image. Entry points:
//! [`write_image`] for library callers, [`cli::run`] for the `yoe image ext4` command.
//!
//! Trust: the manifest, the staging tree and the store are untrusted input. Every manifest
//! error names the entry; content is only read from regular files inside the staging tree.

mod alloc;
pub mod cli;
pub mod content;
pub mod format;
pub mod from_dir;
mod ids;
pub mod layout;
pub mod manifest;
pub mod options;
pub mod tree;
pub mod writer;

pub use content::Sources;
pub use manifest::{Entry, Format, Kind, Manifest};
pub use options::{Features, FsType, Inodes, Options, Size};
pub use writer::{Report, write_image};

/// Error of [`write_image`]: every module's error, each naming the entry or option at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Options(#[from] options::OptionsError),
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
    #[error(transparent)]
    Content(#[from] content::ContentError),
    #[error(transparent)]
    Write(#[from] writer::WriteError),
}
