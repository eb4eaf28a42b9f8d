//! The Landlock layer: filesystem rules for the sandbox-side paths, TCP bind/connect
//! denied, abstract-unix and signal scopes. Fails when the kernel's ABI is below the
//! policy's minimum or when the ruleset is not enforced. Trusts the decoded policy.

use crate::sys;
use crate::wire::{self, Landlock};
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Applies the ruleset to this (single-threaded) process.
pub fn apply(policy: &Landlock) -> Result<(), String> {
    let kernel = sys::landlock_abi();
    if kernel < policy.min_abi {
        return Err(format!("kernel Landlock ABI is {kernel}, the policy needs at least {}", policy.min_abi));
    }
    let abi = ABI::from(policy.target_abi as i32);
    let handled_fs = AccessFs::from_all(abi);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled_fs)
        .map_err(|e| format!("handling filesystem access: {e}"))?;
    let mut net: BitFlags<AccessNet> = BitFlags::empty();
    if policy.net & wire::NET_DENY_BIND_TCP != 0 {
        net |= AccessNet::BindTcp;
    }
    if policy.net & wire::NET_DENY_CONNECT_TCP != 0 {
        net |= AccessNet::ConnectTcp;
    }
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net).map_err(|e| format!("handling network access: {e}"))?;
    }
    let mut scopes: BitFlags<Scope> = BitFlags::empty();
    if policy.scopes & wire::SCOPE_ABSTRACT_UNIX != 0 {
        scopes |= Scope::AbstractUnixSocket;
    }
    if policy.scopes & wire::SCOPE_SIGNAL != 0 {
        scopes |= Scope::Signal;
    }
    if !scopes.is_empty() {
        ruleset = ruleset.scope(scopes).map_err(|e| format!("setting scopes: {e}"))?;
    }
    let mut created = ruleset.create().map_err(|e| format!("creating the ruleset: {e}"))?;
    for rule in &policy.rules {
        let path = OsStr::from_bytes(&rule.path);
        let fd = match PathFd::new(path) {
            Ok(fd) => fd,
            Err(_) if rule.optional && !std::path::Path::new(path).exists() => continue,
            Err(e) => return Err(format!("opening {}: {e}", path.to_string_lossy())),
        };
        let access = BitFlags::<AccessFs>::from_bits_truncate(rule.access) & handled_fs;
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| format!("adding the rule for {}: {e}", path.to_string_lossy()))?;
    }
    let status = created.restrict_self().map_err(|e| format!("restricting self: {e}"))?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => Err("the kernel did not enforce the ruleset".into()),
    }
}
