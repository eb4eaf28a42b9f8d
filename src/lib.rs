//! yoe: a hardened, sandbox-first build runner for embedded Linux.
pub mod cli;
pub mod sandbox;
