//! yoe's integration tests: one binary, one module per area.
mod audit;
mod battery_probes;
mod build;
mod cli;
mod common;
mod git_sources;
mod graph_prop;
mod load_errors;
mod loader;
mod modules;
mod modules_sign;
mod names;
mod sandbox_api;
mod sandbox_battery;
mod sources;
mod support;
mod unsafe_audit;
