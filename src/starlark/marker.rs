//! The types Starlark must downcast: the evaluator `extra`s and the custom values of the
//! dialect. They live alone in this file because `derive(ProvidesStaticType)` emits an
//! `unsafe impl` of a marker trait, which the crate-wide `unsafe_code` lint denies. Only
//! type definitions belong here; `tests/it/unsafe_audit.rs` fails if this file (or any file
//! outside drivers/sandbox-helper) contains the `unsafe` keyword or another allow.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ::starlark::starlark_simple_value;
use ::starlark::values::{NoSerialize, ProvidesStaticType, StarlarkPagablePanic};
use allocative::Allocative;

use super::engine::State;
use super::meter::Meter;
use super::runtime::BuildHost;
use super::values::CtxState;
use crate::model::InstallStep;

/// The evaluator's `extra`: builtins downcast to this.
#[derive(ProvidesStaticType)]
pub struct Engine {
    pub root: PathBuf,
    pub state: RefCell<State>,
    pub ctx: Arc<Mutex<CtxState>>,
    /// The load's limits and counters.
    pub meter: Arc<Meter>,
}

/// The evaluator's `extra` while an `fn` step runs.
#[derive(ProvidesStaticType)]
pub struct BuildExtra {
    pub host: Arc<dyn BuildHost>,
}

#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub struct Ctx {
    #[allocative(skip)]
    pub state: Arc<Mutex<CtxState>>,
}
starlark_simple_value!(Ctx);

/// The value of `install_file(...)` / `install_template(...)`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub struct InstallStepValue {
    #[allocative(skip)]
    pub step: InstallStep,
}
starlark_simple_value!(InstallStepValue);
