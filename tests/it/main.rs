//! yoe's integration tests: one binary, one module per area.
mod audit;
mod cli;
mod graph_prop;
mod load_errors;
mod loader;
mod support;
mod unsafe_audit;
