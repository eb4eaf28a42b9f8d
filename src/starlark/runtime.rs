//! Build-time execution of Starlark `fn` steps: the frozen callables a load kept alive, and
//! the bridge through which their `run()` / `dir_size_mb()` calls reach the executor.
use std::sync::Arc;

use ::starlark::environment::Module;
use ::starlark::eval::Evaluator;
use ::starlark::values::OwnedFrozenValue;

pub use super::marker::BuildExtra;
use crate::model::FnId;

/// The output of one `run()` call.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What a running `fn` step may ask of the build: sandboxed commands and a size query.
pub trait BuildHost: Send + Sync {
    /// Run `cmd` as a sandboxed step of the current unit.
    fn run(&self, cmd: &str) -> Result<RunOutput, String>;
    /// MiB of regular files under `$DESTDIR/subpath` (relative, no `..`).
    fn dir_size_mb(&self, subpath: &str) -> Result<u64, String>;
}

/// The callables of a loaded project, callable from any thread at build time.
pub struct FnRuntime {
    pub(crate) fns: Vec<OwnedFrozenValue>,
}

impl FnRuntime {
    /// Call the `fn` step `id` with no arguments. The error text is Starlark's, with the
    /// traceback into the `.star` files.
    pub fn call(&self, id: FnId, host: Arc<dyn BuildHost>) -> Result<(), String> {
        let f = self.fns.get(id.0 as usize).ok_or_else(|| format!("no fn step with id {}", id.0))?;
        let extra = BuildExtra { host };
        Module::with_temp_heap(|module| {
            let print = super::loader::LogPrint;
            let mut eval = Evaluator::new(&module);
            eval.extra = Some(&extra);
            eval.set_print_handler(&print);
            // Keep the callable's frozen heap referenced from this module's heap, then use
            // the frozen value (valid for as long as that heap is referenced).
            module.frozen_heap().add_reference(f.owner());
            let mut frozen = None;
            f.map(|fv| {
                frozen = Some(fv);
                fv
            });
            let func = frozen.ok_or_else(|| "internal: empty callable".to_string())?.to_value();
            eval.eval_function(func, &[], &[]).map(|_| ()).map_err(|e| e.to_string())
        })
    }

    pub fn len(&self) -> usize {
        self.fns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }
}
