//! The build engine: per-unit dirs, cache keys, sysroots, install steps, templates, the DAG
//! scheduler and the executor that runs every step in the sandbox.
pub mod dirs;
pub mod executor;
pub mod image;
pub mod install;
pub mod key;
pub mod record;
pub mod scheduler;
pub mod template;
pub mod toolchain;
pub mod tree;
