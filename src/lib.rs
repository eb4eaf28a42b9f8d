//! yoe: a hardened, sandbox-first build runner for embedded Linux.

/// Every allocation of the process goes through the sandbox helper's counting allocator:
/// the system allocator, plus a byte budget on the threads that evaluate untrusted
/// Starlark (`starlark::bounded`). Installed here so the binary, the tests and the benches
/// all run with it.
#[global_allocator]
static ALLOC: yoe_sandbox_helper::budget::BudgetAlloc = yoe_sandbox_helper::budget::BudgetAlloc;

pub mod audit;
pub mod build;
pub mod cli;
pub mod env;
pub mod fsx;
pub mod graph;
pub mod layout;
pub mod model;
pub mod module;
pub mod paranoid;
pub mod sandbox;
pub mod source;
pub mod starlark;
pub mod treehash;
