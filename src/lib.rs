//! yoe: a hardened, sandbox-first build runner for embedded Linux.
pub mod audit;
pub mod build;
pub mod cli;
pub mod env;
pub mod fsx;
pub mod graph;
pub mod layout;
pub mod model;
pub mod module;
pub mod sandbox;
pub mod source;
pub mod starlark;
pub mod treehash;
