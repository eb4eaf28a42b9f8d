//! The sandbox every build step runs in: the step policy (`policies/step.toml`), the
//! environment contract, the bwrap argv builder (pure), the spawner (the only place that
//! starts bwrap), the build user for root, and `yoe doctor`'s layer report.
//! Trusts `policies/` and the helper binary; trusts nothing a unit provides.
//!
//! Typical use by the executor:
//!
//! ```no_run
//! use yoe::sandbox::{Sandbox, SandboxConfig, StepDirs, StepOutput, StepSpec, Shell, EnvInputs, render_env, policy};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::detect(&SandboxConfig::default())?; // fails closed
//! let dirs = StepDirs { src: "/p/build/u/src".into(), destdir: "/p/build/u/destdir".into(),
//!                       sysroot: "/p/build/u/sysroot".into(), home: "/p/build/u/home".into() };
//! sandbox.hand_over(std::path::Path::new("/p/build/u"))?;      // no-op unless root
//! let unit_env = Default::default();
//! let env = render_env(policy::embedded(), &EnvInputs { nproc: 2, arch: "x86_64",
//!     machine: "qemu-x86_64", distro: "yoe", source_date_epoch: 0, unit: &unit_env })?;
//! let out = sandbox.run(&StepSpec { dirs, env, shell: Shell::Sh, script: "make".into() },
//!                       StepOutput::Log("/p/build/u/build.log".into()))?;
//! assert!(out.exit.success());
//! # Ok(()) }
//! ```

pub mod bwrap;
pub mod doctor;
pub mod env;
pub mod policy;
pub mod spawn;
pub mod user;

pub use bwrap::{Layers, RootFs, Shell, StepDirs};
pub use doctor::{DoctorLine, DoctorReport, State, doctor_report};
pub use env::{EnvError, EnvInputs, render_env};
pub use policy::{Policy, PolicyError};
pub use spawn::{Cancel, Sandbox, SandboxConfig, SandboxError, StepExit, StepOutcome, StepOutput, StepSpec};
pub use user::{BuildUser, BuildUserConfig, UserError};
