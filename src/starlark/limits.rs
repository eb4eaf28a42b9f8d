//! The load limits: `policies/load.toml` parsed once into [`LoadLimits`], and the names
//! ([`Limit`]) that errors and `yoe audit` findings cite. The TOML is trusted (it is part
//! of the binary) but still validated: every limit must be positive and fit the types the
//! evaluator takes.
use std::sync::OnceLock;

use serde::Deserialize;

/// The load policy compiled into yoe.
pub const EMBEDDED_LOAD_POLICY: &str = include_str!("../../policies/load.toml");

/// Why a load policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("load policy is not valid TOML for the load policy schema: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("load policy version {0} is not supported (expected 1)")]
    Version(u32),
    #[error("load policy: `{0}` must be greater than 0")]
    Zero(&'static str),
    #[error("load policy: `{key}` = {value} is too large (at most {max})")]
    TooLarge { key: &'static str, value: u64, max: u64 },
}

/// What one load (and one `fn` step) may cost. Field names are the keys of
/// `policies/load.toml`; docs/boundary.md explains each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadLimits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_files: u64,
    pub max_parse_depth: u64,
    pub max_load_depth: u64,
    pub max_call_depth: u64,
    pub max_steps: u64,
    pub max_heap_bytes: u64,
    pub max_cpu_ms: u64,
    pub max_value_depth: u64,
    pub max_thread_bytes: u64,
    pub max_stack_bytes: u64,
    pub max_process_bytes: u64,
    pub max_shell_step_bytes: u64,
    pub max_shell_total_bytes: u64,
    pub max_template_bytes: u64,
}

/// One limit of [`LoadLimits`], as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limit {
    FileBytes,
    TotalBytes,
    Files,
    ParseDepth,
    LoadDepth,
    CallDepth,
    Steps,
    HeapBytes,
    CpuMs,
    ValueDepth,
    ThreadBytes,
    StackBytes,
    ProcessBytes,
    ShellStepBytes,
    ShellTotalBytes,
    TemplateBytes,
}

impl Limit {
    pub const ALL: [Limit; 16] = [
        Limit::FileBytes,
        Limit::TotalBytes,
        Limit::Files,
        Limit::ParseDepth,
        Limit::LoadDepth,
        Limit::CallDepth,
        Limit::Steps,
        Limit::HeapBytes,
        Limit::CpuMs,
        Limit::ValueDepth,
        Limit::ThreadBytes,
        Limit::StackBytes,
        Limit::ProcessBytes,
        Limit::ShellStepBytes,
        Limit::ShellTotalBytes,
        Limit::TemplateBytes,
    ];

    /// The key in `policies/load.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Limit::FileBytes => "max_file_bytes",
            Limit::TotalBytes => "max_total_bytes",
            Limit::Files => "max_files",
            Limit::ParseDepth => "max_parse_depth",
            Limit::LoadDepth => "max_load_depth",
            Limit::CallDepth => "max_call_depth",
            Limit::Steps => "max_steps",
            Limit::HeapBytes => "max_heap_bytes",
            Limit::CpuMs => "max_cpu_ms",
            Limit::ValueDepth => "max_value_depth",
            Limit::ThreadBytes => "max_thread_bytes",
            Limit::StackBytes => "max_stack_bytes",
            Limit::ProcessBytes => "max_process_bytes",
            Limit::ShellStepBytes => "max_shell_step_bytes",
            Limit::ShellTotalBytes => "max_shell_total_bytes",
            Limit::TemplateBytes => "max_template_bytes",
        }
    }

    /// What went over the limit, as the first words of an error.
    pub fn what(self) -> &'static str {
        match self {
            Limit::FileBytes => "the file is too large",
            Limit::TotalBytes => "the load reads too many bytes of .star files",
            Limit::Files => "the load reads too many .star files",
            Limit::ParseDepth => "the syntax is nested too deeply",
            Limit::LoadDepth => "the load() chain is too deep",
            Limit::CallDepth => "the Starlark call stack is too deep",
            Limit::Steps => "evaluation takes too many steps",
            Limit::HeapBytes => "evaluation holds too much memory",
            Limit::CpuMs => "evaluation takes too long",
            Limit::ValueDepth => "a value is nested too deeply",
            Limit::ThreadBytes => "evaluation needs more memory than the evaluating thread may hold",
            Limit::StackBytes => "recursion exhausts the evaluating thread's stack",
            Limit::ProcessBytes => "stopped evaluations hold all the memory this process may use",
            Limit::ShellStepBytes => "the shell step is too long for the audit to parse",
            Limit::ShellTotalBytes => "the audit has parsed all the shell text it may",
            Limit::TemplateBytes => "the rendered template is too large",
        }
    }

    /// The value of this limit in `limits`.
    pub fn value(self, limits: &LoadLimits) -> u64 {
        match self {
            Limit::FileBytes => limits.max_file_bytes,
            Limit::TotalBytes => limits.max_total_bytes,
            Limit::Files => limits.max_files,
            Limit::ParseDepth => limits.max_parse_depth,
            Limit::LoadDepth => limits.max_load_depth,
            Limit::CallDepth => limits.max_call_depth,
            Limit::Steps => limits.max_steps,
            Limit::HeapBytes => limits.max_heap_bytes,
            Limit::CpuMs => limits.max_cpu_ms,
            Limit::ValueDepth => limits.max_value_depth,
            Limit::ThreadBytes => limits.max_thread_bytes,
            Limit::StackBytes => limits.max_stack_bytes,
            Limit::ProcessBytes => limits.max_process_bytes,
            Limit::ShellStepBytes => limits.max_shell_step_bytes,
            Limit::ShellTotalBytes => limits.max_shell_total_bytes,
            Limit::TemplateBytes => limits.max_template_bytes,
        }
    }

    /// Whether hitting it stopped the evaluating thread for good (rather than ending the
    /// evaluation with an error at a statement boundary).
    pub fn is_hard(self) -> bool {
        matches!(self, Limit::ThreadBytes | Limit::StackBytes | Limit::ProcessBytes)
    }
}

/// The message of a limit hit at `place` (`file`, `file:line:col`): what went over, the
/// limit's key and value.
pub fn message(place: &dyn std::fmt::Display, limit: Limit, value: u64) -> String {
    format!("{place}: {}: load limit `{}` = {value} (policies/load.toml)", limit.what(), limit.key())
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// Limits that the types they feed cannot hold, or that make no sense.
const MAX_DEPTH: u64 = 100_000;

impl LoadLimits {
    /// Parses and validates a load policy text.
    pub fn parse(text: &str) -> Result<LoadLimits, LimitsError> {
        let mut table: toml::Table = toml::from_str(text)?;
        let version = match table.remove("version") {
            Some(toml::Value::Integer(v)) => u32::try_from(v).unwrap_or(u32::MAX),
            _ => 0,
        };
        if version != 1 {
            return Err(LimitsError::Version(version));
        }
        let l: LoadLimits = toml::Value::Table(table).try_into()?;
        for limit in Limit::ALL {
            let value = limit.value(&l);
            if value == 0 {
                return Err(LimitsError::Zero(limit.key()));
            }
            let max = match limit {
                Limit::ParseDepth | Limit::LoadDepth | Limit::CallDepth | Limit::ValueDepth => MAX_DEPTH,
                // Sizes must fit usize and isize on every target yoe runs on.
                _ => i64::MAX as u64,
            };
            if value > max {
                return Err(LimitsError::TooLarge { key: limit.key(), value, max });
            }
        }
        Ok(l)
    }

    /// The limits compiled into this binary, parsed once.
    ///
    /// # Panics
    /// Only if the compiled-in `policies/load.toml` is invalid, which the test
    /// `embedded_load_policy_parses` rules out at build time.
    pub fn embedded() -> LoadLimits {
        static LIMITS: OnceLock<LoadLimits> = OnceLock::new();
        *LIMITS.get_or_init(|| match LoadLimits::parse(EMBEDDED_LOAD_POLICY) {
            Ok(l) => l,
            Err(e) => panic!("the embedded policies/load.toml is invalid: {e}"),
        })
    }

    /// A depth limit as the `usize` the evaluator takes (validated to fit).
    pub fn depth(&self, limit: Limit) -> usize {
        usize::try_from(limit.value(self)).unwrap_or(usize::MAX)
    }

    /// A byte limit as `usize` (validated to fit).
    pub fn bytes(&self, limit: Limit) -> usize {
        usize::try_from(limit.value(self)).unwrap_or(usize::MAX)
    }
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits::embedded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_load_policy_parses() {
        let l = LoadLimits::parse(EMBEDDED_LOAD_POLICY).expect("embedded load policy");
        assert_eq!(l, LoadLimits::embedded());
        // The hard bounds leave room for the soft ones, and the process cap for a retry.
        assert!(l.max_heap_bytes < l.max_thread_bytes);
        assert!(l.max_thread_bytes + l.max_stack_bytes <= l.max_process_bytes);
        assert!(l.max_file_bytes <= l.max_total_bytes);
    }

    #[test]
    fn every_limit_is_documented_in_the_policy_and_the_boundary_page() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/boundary.md"))
            .expect("docs/boundary.md");
        let section = docs.split("## Load limits").nth(1).expect("a `## Load limits` section");
        for limit in Limit::ALL {
            assert!(EMBEDDED_LOAD_POLICY.contains(&format!("\n{} = ", limit.key())), "{limit} not in load.toml");
            assert!(section.contains(&format!("`{}`", limit.key())), "{limit} not in docs/boundary.md");
        }
    }

    #[test]
    fn bad_policies_are_refused() {
        let good = EMBEDDED_LOAD_POLICY;
        let zero = good.replace("max_steps = ", "max_steps = 0 #");
        assert!(matches!(LoadLimits::parse(&zero), Err(LimitsError::Zero("max_steps"))));
        let v2 = good.replace("version = 1", "version = 2");
        assert!(matches!(LoadLimits::parse(&v2), Err(LimitsError::Version(2))));
        let unknown = format!("{good}\nmax_fun = 3\n");
        assert!(matches!(LoadLimits::parse(&unknown), Err(LimitsError::Toml(_))));
        let missing = good.replace("max_cpu_ms", "# max_cpu_ms");
        assert!(matches!(LoadLimits::parse(&missing), Err(LimitsError::Toml(_))));
        let deep = good.replace("max_parse_depth = ", "max_parse_depth = 1000000 #");
        assert!(matches!(LoadLimits::parse(&deep), Err(LimitsError::TooLarge { key: "max_parse_depth", .. })));
    }
}
