//! Build-time execution of Starlark `fn` steps: the frozen callables a load kept alive, and
//! the bridge through which their `run()` / `dir_size_mb()` calls reach the executor. A
//! step is untrusted code like the file it came from, so it runs bounded as a load does.
use std::sync::Arc;

use ::starlark::environment::Module;
use ::starlark::eval::Evaluator;
use ::starlark::values::OwnedFrozenValue;

use super::bounded::{self, Stop};
use super::limits::{Limit, LoadLimits};
pub use super::marker::BuildExtra;
use super::meter::{Clock, Meter};
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
    /// Call the `fn` step `id` with no arguments, under the embedded load limits. The error
    /// text is Starlark's, with the traceback into the `.star` files.
    pub fn call(&self, id: FnId, host: Arc<dyn BuildHost>) -> Result<(), String> {
        self.call_with(id, host, &LoadLimits::embedded())
    }

    /// [`FnRuntime::call`] under `limits`: the step runs on a thread of its own with the
    /// call-stack, step and heap limits of a load and the same hard bounds (thread bytes,
    /// stack), but no time limit, since `run()` legitimately waits for long
    /// sandboxed commands.
    pub fn call_with(&self, id: FnId, host: Arc<dyn BuildHost>, limits: &LoadLimits) -> Result<(), String> {
        let f = self.fns.get(id.0 as usize).ok_or_else(|| format!("no fn step with id {}", id.0))?.clone();
        let meter = Meter::new(*limits, Clock::new(None));
        let m = meter.clone();
        let run = move || -> Result<(), String> {
            let extra = BuildExtra { host };
            Module::with_temp_heap(|module| {
                let print = super::loader::LogPrint;
                let mut eval = Evaluator::new(&module);
                eval.extra = Some(&extra);
                eval.set_print_handler(&print);
                m.arm(&mut eval).map_err(|limit| m.hit(limit, "fn step"))?;
                // Keep the callable's frozen heap referenced from this module's heap, then
                // use the frozen value (valid for as long as that heap is referenced).
                module.frozen_heap().add_reference(f.owner());
                let mut frozen = None;
                f.map(|fv| {
                    frozen = Some(fv);
                    fv
                });
                let func = frozen.ok_or_else(|| "internal: empty callable".to_string())?.to_value();
                let r = eval.eval_function(func, &[], &[]).map(|_| ());
                m.finish(&eval);
                r.map_err(|e| match m.take_tripped() {
                    Some(limit) => m.hit(limit, "fn step"),
                    None if matches!(e.kind(), ::starlark::ErrorKind::StackOverflow(_)) => {
                        m.hit(Limit::CallDepth, "fn step")
                    }
                    None => e.to_string(),
                })
            })
        };
        match bounded::run(bounded::FN_STEP, limits, None, run) {
            Ok(r) => r,
            Err(Stop::Limit(limit)) => Err(meter.hit(limit, "fn step")),
            Err(Stop::Panicked(why)) => Err(format!(
                "{}: the Starlark evaluator failed ({why})",
                meter.location().map_or_else(|| "fn step".to_string(), |l| l.to_string())
            )),
            Err(Stop::Failed(why)) => Err(why),
        }
    }

    pub fn len(&self) -> usize {
        self.fns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }
}
