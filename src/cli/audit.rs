//! `yoe audit`: static security analysis of the project (or a module directory), with the
//! output format, filters, suppression switches and exit codes of docs/audit.md.
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::{Global, output};
use crate::audit::output::{Filter, View};
use crate::audit::{AuditOptions, Confidence, Persona, Severity, audit};
use crate::starlark::LocalOnly;

/// Exit codes of `yoe audit` (docs/audit.md).
pub mod codes {
    /// No finding at or above `--min-severity` (or `--no-exit-codes`, or `--format sarif`).
    pub const CLEAN: u8 = 0;
    /// The audit could not run (internal error, unreadable input, malformed yoe-audit.toml).
    pub const ERROR: u8 = 1;
    /// Wrong command line.
    pub const USAGE: u8 = 2;
    /// No PROJECT.star or MODULE.star found.
    pub const NO_INPUTS: u8 = 3;
    pub const INFORMATIONAL: u8 = 11;
    pub const LOW: u8 = 12;
    pub const MEDIUM: u8 = 13;
    pub const HIGH: u8 = 14;
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Project (or module) directory to audit (default: --project, else the current project).
    pub dir: Option<PathBuf>,
    /// Output format (`json` is the current JSON version, `json-v1`).
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
    /// Show only findings of at least this severity.
    #[arg(long, value_enum, default_value_t = Severity::Informational)]
    pub min_severity: Severity,
    /// Show only findings of at least this confidence.
    #[arg(long, value_enum, default_value_t = Confidence::Low)]
    pub min_confidence: Confidence,
    /// Also show pedantic findings (code smells) or auditor findings (may be false positives).
    #[arg(long, value_enum, default_value_t = Persona::Regular)]
    pub persona: Persona,
    /// A build directory: also audit its `<unit>.<scope>/destdir` trees (output rules).
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// Apply no suppression (inline comments or yoe-audit.toml): for reviewers.
    #[arg(long)]
    pub no_ignores: bool,
    /// Exit 0 whatever is found (errors still exit 1).
    #[arg(long)]
    pub no_exit_codes: bool,
    /// Skip the model pass (loading the project in audit mode); read the text only.
    #[arg(long)]
    pub static_only: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    #[value(name = "json-v1")]
    JsonV1,
    Sarif,
    Github,
}

pub fn run(g: &Global, a: AuditArgs) -> anyhow::Result<u8> {
    let start = a.dir.clone().or_else(|| g.project.clone()).unwrap_or_else(|| PathBuf::from("."));
    // Remote modules come from yoe.lock and the verified cache, as for every load; one that
    // is not locked or does not verify is reported as skipped.
    let locked =
        crate::starlark::find_root(&start).ok().and_then(|r| crate::module::LockedSource::open(&r, false).ok());
    let modules: Arc<dyn crate::starlark::ModuleSource> = match locked {
        Some(s) => Arc::new(s),
        None => Arc::new(LocalOnly),
    };
    let opts = AuditOptions {
        start,
        machine: g.machine.clone(),
        distro: g.distro.clone(),
        modules,
        outputs: a.outputs.clone(),
        paranoid: g.paranoid,
        no_ignores: a.no_ignores,
        model: !a.static_only,
        today: None,
        limits: crate::starlark::LoadLimits::embedded(),
    };
    let report = match audit(&opts) {
        Ok(r) => r,
        Err(e) if e.is_no_inputs() => {
            output::error(&anyhow::anyhow!("{e}"));
            return Ok(codes::NO_INPUTS);
        }
        Err(e) => return Err(e.into()),
    };
    let view = View::new(
        &report,
        Filter { min_severity: a.min_severity, min_confidence: a.min_confidence, persona: a.persona },
    );
    let format = if g.json && a.format == Format::Plain { Format::Json } else { a.format };
    match format {
        Format::Plain => output::text(&crate::audit::output::plain::render(&view)),
        Format::Json | Format::JsonV1 => {
            super::json::print(super::json::schema::AUDIT, &crate::audit::output::json::render(&view))?
        }
        Format::Sarif => output::json(&crate::audit::output::sarif::render(&view))?,
        Format::Github => {
            output::text(&crate::audit::output::github::render(&view));
            output::status(crate::audit::output::plain::summary(&view).trim_end());
        }
    }
    if a.no_exit_codes || format == Format::Sarif {
        return Ok(codes::CLEAN);
    }
    Ok(match view.highest() {
        None => codes::CLEAN,
        Some(Severity::Informational) => codes::INFORMATIONAL,
        Some(Severity::Low) => codes::LOW,
        Some(Severity::Medium) => codes::MEDIUM,
        Some(Severity::High) => codes::HIGH,
    })
}
