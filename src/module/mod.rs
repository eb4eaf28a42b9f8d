//! Remote modules: fetching a pinned commit into yoe's cache ([`store`], [`git`],
//! [`objects`]), the tree manifest and its hash ([`manifest`]), re-verification on every
//! use ([`verify`]), `yoe.lock` ([`lockfile`]), signatures ([`signature`]), `--paranoid`'s
//! rules ([`paranoid`]) and the module sources a load uses ([`source`]). What is trusted:
//! the git binary, PROJECT.star's declarations, yoe.lock and the trusted keys; never the
//! cache, a repository's config or the network.
pub mod git;
pub mod lockfile;
pub mod manifest;
pub mod objects;
pub mod paranoid;
pub mod signature;
pub mod source;
pub mod store;
pub mod verify;

pub use lockfile::{LOCK_FILE, LockedModule, Lockfile};
pub use manifest::{Manifest, SIGNATURE_PATH};
pub use signature::{SignatureState, TrustedKeys};
pub use source::{LockedSource, Resolver, UpdateScope};
pub use store::{Pin, Store, StoreError, SyncAction};
