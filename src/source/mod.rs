//! Unit sources: what a unit's `source` pins (sha256 for archives and files, a full commit
//! for git), fetching by yoe itself outside any sandbox and before any user code runs, the
//! content-addressed store (re-hashed on every reuse), and preparing `src/` from it.
//! Trusts nothing fetched until its hash matches the pin.
pub mod domain;
pub mod fetch;
pub mod pin;
pub mod prepare;
pub mod store;

pub use fetch::FetchOptions;
pub use pin::{Pin, PinError, pin_of};
pub use prepare::{SourceError, Sources};
pub use store::{Store, StoreError};
