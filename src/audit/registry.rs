//! The rule registry: each rule's fixed metadata and its check. Ids are kebab-case, never
//! renamed, and unique (a test checks that, and that each has `docs/audit/<id>.md`).
use super::Context;
use super::finding::{Confidence, Finding, Group, Persona, Phase, Severity};

/// What a rule is, independent of any input.
#[derive(Debug)]
pub struct RuleMeta {
    pub id: &'static str,
    pub group: Group,
    /// Default severity and confidence (a finding may differ, e.g. with a hash present).
    pub severity: Severity,
    pub confidence: Confidence,
    pub persona: Persona,
    pub phase: Phase,
    /// One line: what the rule detects.
    pub summary: &'static str,
}

/// A rule: metadata plus a check over the audit context. Checks never fail: what they cannot
/// decide they do not report.
pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, cx: &Context, out: &mut Vec<Finding>);
}

/// Every rule, in catalogue order.
pub fn rules() -> &'static [&'static dyn Rule] {
    use super::rules::*;
    &[
        // modules and trust
        &unpinned_module::Check,
        &module_lock_mismatch::Check,
        &insecure_module_url::Check,
        &local_module_escape::Check,
        &load_label_escape::Check,
        &module_build_dir::Check,
        &module_binary_artifact::Check,
        &module_ships_commands::Check,
        &unsigned_module::Check,
        // sources
        &source_without_hash::Check,
        &insecure_source_url::Check,
        &git_source_without_commit::Check,
        &mirror_without_hash::Check,
        &weak_source_hash::Check,
        &github_generated_archive::Check,
        // steps and execution policy
        &removed_escalation_kwarg::Check,
        &sandbox_disabled::Check,
        &network_requested::Check,
        &curl_pipe_shell::Check,
        &unpinned_tool_install::Check,
        &host_path_write::Check,
        &cache_dir_escape::Check,
        &shared_writable_cache::Check,
        &unpinned_container_image::Check,
        &secret_in_environment::Check,
        &host_env_passthrough::Check,
        &obfuscated_step::Check,
        // outputs
        &setuid_in_output::Check,
        &world_writable_output::Check,
        &device_node_in_output::Check,
        &host_path_in_output::Check,
        // project and meta
        &committed_private_key::Check,
        &unknown_kwarg::Check,
        &invalid_name::Check,
        &load_limit::Check,
        &unused_suppression::Check,
    ]
}

/// The metadata of a rule by id.
pub fn meta(id: &str) -> Option<&'static RuleMeta> {
    rules().iter().map(|r| r.meta()).find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = rules().iter().map(|r| r.meta().id).collect();
        assert!(ids.len() >= 25);
        for id in &ids {
            assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{id}");
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule ids");
    }

    #[test]
    fn every_group_is_covered() {
        for g in [Group::ModulesAndTrust, Group::Sources, Group::Steps, Group::Outputs, Group::ProjectAndMeta] {
            assert!(rules().iter().any(|r| r.meta().group == g), "{g:?}");
        }
    }
}
