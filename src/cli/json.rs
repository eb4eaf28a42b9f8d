//! The machine-readable output of every verb (`--json`): one serde struct per document,
//! printed with a `"schema": "yoe.<verb>/v1"` field first. The shapes are a contract
//! (documented in docs/cli.md): a field may be added within a version, never renamed or
//! removed; anything else is a new version beside the old one.
use serde::Serialize;

use crate::graph::EdgeKind;

/// A document: its schema name, then the fields of `body`.
#[derive(Serialize)]
struct Doc<'a, T: Serialize + ?Sized> {
    schema: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Print `body` as the `schema` document (e.g. `yoe.build/v1`).
pub fn print<T: Serialize + ?Sized>(schema: &str, body: &T) -> anyhow::Result<()> {
    super::output::json(&Doc { schema, body })
}

/// `yoe build --dry-run --json`: the plan in build order.
#[derive(Serialize)]
pub struct BuildPlan<'a> {
    pub plan: &'a [String],
}

/// `yoe build --json`: one result per unit of the plan.
#[derive(Serialize)]
pub struct BuildResults<'a> {
    pub results: Vec<BuildResult<'a>>,
}

#[derive(Serialize)]
pub struct BuildResult<'a> {
    pub unit: &'a str,
    /// `built`, `cached`, `failed`, `blocked` or `skipped`.
    pub result: &'a str,
    pub detail: String,
    pub key: Option<&'a String>,
}

/// `yoe graph --json`.
#[derive(Serialize)]
pub struct Graph<'a> {
    pub order: &'a [String],
    pub units: Vec<GraphNode<'a>>,
}

#[derive(Serialize)]
pub struct GraphNode<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub module: &'a str,
    pub deps: Vec<GraphEdge<'a>>,
}

#[derive(Serialize)]
pub struct GraphEdge<'a> {
    pub name: &'a str,
    pub kind: EdgeKind,
}

/// `yoe refs --json`.
#[derive(Serialize)]
pub struct Refs<'a> {
    pub unit: &'a str,
    pub direct: bool,
    pub refs: &'a [String],
}

/// `yoe module lock|update --json`.
#[derive(Serialize)]
pub struct ModuleLock {
    pub changes: Vec<ModuleChange>,
    pub drift: Vec<Drift>,
    pub changed: bool,
    pub written: bool,
}

/// One entry of a lock change; fields that do not apply are left out.
#[derive(Serialize)]
pub struct ModuleChange {
    /// `added`, `removed`, `changed` or `unchanged`.
    pub change: &'static str,
    pub module: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_commit: Option<String>,
    pub commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_tree: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
}

/// A ref that moved since it was pinned.
#[derive(Serialize, Clone)]
pub struct Drift {
    pub module: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// `branch` or `tag`.
    pub kind: String,
    pub locked: String,
    pub now: String,
}

/// `yoe module sync --json`.
#[derive(Serialize)]
pub struct ModuleSync {
    pub results: Vec<ModuleSyncResult>,
}

#[derive(Serialize)]
pub struct ModuleSyncResult {
    pub module: String,
    /// `verified`, `fetched`, `repaired` or `failed`.
    pub result: &'static str,
    pub detail: String,
}

/// `yoe module list --json`.
#[derive(Serialize)]
pub struct ModuleList {
    pub modules: Vec<ModuleListRow>,
}

#[derive(Serialize)]
pub struct ModuleListRow {
    pub name: String,
    pub url: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub commit: String,
    pub path: String,
    pub tree: String,
    pub transitive: bool,
    pub cached: bool,
}

/// `yoe module verify --json`.
#[derive(Serialize)]
pub struct ModuleVerify {
    pub modules: Vec<ModuleVerifyRow>,
    pub project: String,
    pub ok: bool,
}

#[derive(Serialize)]
pub struct ModuleVerifyRow {
    pub module: String,
    pub commit: String,
    /// `ok`, `missing` or `TAMPERED`.
    pub cache: &'static str,
    pub cache_detail: String,
    pub signature: &'static str,
    pub signature_detail: String,
    pub drift: String,
}

/// `yoe module sign --json`.
#[derive(Serialize)]
pub struct ModuleSign<'a> {
    pub tree: &'a str,
    pub signature: &'a std::path::Path,
}

/// `yoe version --json`.
#[derive(Serialize)]
pub struct Version<'a> {
    pub version: &'a str,
}

/// The schema names, one per document (docs/cli.md lists them).
pub mod schema {
    pub const BUILD: &str = "yoe.build/v1";
    pub const BUILD_PLAN: &str = "yoe.build-plan/v1";
    pub const GRAPH: &str = "yoe.graph/v1";
    pub const DESC: &str = "yoe.desc/v1";
    pub const REFS: &str = "yoe.refs/v1";
    pub const DOCTOR: &str = "yoe.doctor/v1";
    pub const IMAGE_EXT4: &str = "yoe.image-ext4/v1";
    pub const MODULE_LOCK: &str = "yoe.module-lock/v1";
    pub const MODULE_SYNC: &str = "yoe.module-sync/v1";
    pub const MODULE_LIST: &str = "yoe.module-list/v1";
    pub const MODULE_VERIFY: &str = "yoe.module-verify/v1";
    pub const MODULE_SIGN: &str = "yoe.module-sign/v1";
    pub const VERSION: &str = "yoe.version/v1";
    /// `yoe audit --format json`: the findings document `json-v1` (its own `version`
    /// field names the same shape).
    pub const AUDIT: &str = "yoe.audit/v1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_comes_first_and_the_body_is_flattened() {
        let plan = vec!["a".to_string(), "b".to_string()];
        let v = serde_json::to_value(Doc { schema: schema::BUILD_PLAN, body: &BuildPlan { plan: &plan } }).unwrap();
        assert_eq!(v, serde_json::json!({"schema": "yoe.build-plan/v1", "plan": ["a", "b"]}));
        let text =
            serde_json::to_string(&Doc { schema: schema::BUILD_PLAN, body: &BuildPlan { plan: &plan } }).unwrap();
        assert!(text.starts_with("{\"schema\":\"yoe.build-plan/v1\""), "{text}");
    }
}
