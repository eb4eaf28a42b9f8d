//! Command-line entry point: clap definitions (one file per verb), logging setup, and exit
//! codes. `anyhow` lives here and nowhere else; results go to stdout through `output`.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub mod audit;
mod build;
mod desc;
mod doctor;
mod graph;
mod image;
mod init;
pub mod json;
mod module;
pub mod output;
mod project;
mod refs;
mod source;

pub use project::Session;

/// Exit codes (documented in docs/cli.md).
pub mod exit {
    /// Everything asked for was done.
    pub const OK: u8 = 0;
    /// The command failed (bad project, failed build, ...).
    pub const FAILURE: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(name = "yoe", version, about = "A hardened, sandbox-first build runner for embedded Linux")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb understands.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Project directory (default: the nearest parent directory holding PROJECT.star).
    #[arg(long, global = true, env = "YOE_PROJECT", value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Machine-readable JSON on stdout where the verb supports it.
    #[arg(long, global = true)]
    pub json: bool,
    /// Turn every remaining convenience into an error.
    #[arg(long, global = true)]
    pub paranoid: bool,
    /// Machine to load for (overrides local.star and defaults).
    #[arg(long, global = true)]
    pub machine: Option<String>,
    /// Distro to load for (overrides local.star and defaults).
    #[arg(long, global = true)]
    pub distro: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a small working project into DIR.
    Init(init::InitArgs),
    /// Build units (all when none are named).
    Build(build::BuildArgs),
    /// Static security analysis of the project and its modules (runs no code).
    Audit(audit::AuditArgs),
    /// Show the dependency graph.
    Graph(graph::GraphArgs),
    /// Describe a unit: every field and where it was defined.
    Desc(desc::DescArgs),
    /// List the units that depend on a unit.
    Refs(refs::RefsArgs),
    /// Check every sandbox layer; non-zero when a required one is missing.
    Doctor,
    /// Filesystem drivers on their own (`yoe image ext4 ...`).
    Image(image::ImageArgs),
    /// Fetch or verify unit sources (the content-addressed store).
    Source(source::SourceArgs),
    /// Remote modules: lock, update, sync, list, verify, sign, hash.
    Module(module::ModuleArgs),
    /// Print the version.
    Version,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.global.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::error(&e);
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = cli.global;
    match cli.command {
        Command::Init(a) => init::run(&g, a),
        Command::Build(a) => build::run(&g, a),
        Command::Audit(a) => audit::run(&g, a),
        Command::Graph(a) => graph::run(&g, a),
        Command::Desc(a) => desc::run(&g, a),
        Command::Refs(a) => refs::run(&g, a),
        Command::Doctor => doctor::run(&g),
        Command::Source(a) => source::run(&g, a),
        Command::Image(a) => image::run(&g, a),
        Command::Module(a) => module::run(&g, a),
        Command::Version => {
            if g.json {
                json::print(json::schema::VERSION, &json::Version { version: env!("CARGO_PKG_VERSION") })?;
            } else {
                output::line(&format!("yoe {}", env!("CARGO_PKG_VERSION")));
            }
            Ok(exit::OK)
        }
    }
}

/// Fail with the `--paranoid` refusals, one per line (none: go on).
pub(crate) fn refuse(refusals: Vec<crate::paranoid::Refusal>) -> anyhow::Result<()> {
    if refusals.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    anyhow::bail!("{}", lines.join("\n"))
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = crate::env::var(crate::env::YOE_LOG)
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // No colour codes of its own: every byte of a log line passes output::LogWriter, which
    // escapes control characters.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| output::LogWriter)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
