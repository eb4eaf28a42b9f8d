//! The seccomp layer: compiles the policy's syscall rules into one BPF program per errno
//! (seccompiler allows one match action per filter), splices the x32 guard into the
//! first, and installs them in order. Trusts the decoded policy and seccompiler's output
//! shape, which it checks before splicing.

use crate::wire::{CmpOp, Seccomp};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};
use std::collections::BTreeMap;

/// `BPF_LD | BPF_W | BPF_ABS`
const LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`
const JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGE | BPF_K`
const JGE_K: u16 = 0x35;
/// `BPF_RET | BPF_K`
const RET_K: u16 = 0x06;
/// `__X32_SYSCALL_BIT`
const X32_BIT: u32 = 0x4000_0000;

/// One compiled filter and the errno it returns.
#[derive(Debug)]
pub struct Compiled {
    pub errno: u32,
    pub program: BpfProgram,
}

fn target_arch() -> Result<TargetArch, String> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else if cfg!(target_arch = "riscv64") {
        Ok(TargetArch::riscv64)
    } else {
        Err("seccomp filters are not supported on this architecture".into())
    }
}

/// Compiles the rules: filters in the order their errno first appears.
pub fn compile(policy: &Seccomp) -> Result<Vec<Compiled>, String> {
    let arch = target_arch()?;
    let mut order: Vec<u32> = Vec::new();
    let mut groups: BTreeMap<u32, BTreeMap<i64, Option<Vec<SeccompRule>>>> = BTreeMap::new();
    for rule in &policy.rules {
        if !order.contains(&rule.errno) {
            order.push(rule.errno);
        }
        let slot = groups.entry(rule.errno).or_default().entry(rule.nr).or_insert_with(|| Some(Vec::new()));
        if rule.when.is_empty() {
            // Unconditional wins over any conditional rule for the same syscall.
            *slot = None;
            continue;
        }
        if let Some(alts) = slot {
            for alt in &rule.when {
                let conds = alt
                    .iter()
                    .map(|c| {
                        let len = if c.width == 4 { SeccompCmpArgLen::Dword } else { SeccompCmpArgLen::Qword };
                        let op = match c.op {
                            CmpOp::Eq => SeccompCmpOp::Eq,
                            CmpOp::Ne => SeccompCmpOp::Ne,
                            CmpOp::MaskedEq => SeccompCmpOp::MaskedEq(c.mask),
                            CmpOp::Ge => SeccompCmpOp::Ge,
                            CmpOp::Gt => SeccompCmpOp::Gt,
                            CmpOp::Le => SeccompCmpOp::Le,
                            CmpOp::Lt => SeccompCmpOp::Lt,
                        };
                        SeccompCondition::new(c.arg, len, op, c.value)
                            .map_err(|e| format!("condition on syscall {}: {e}", rule.nr))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                alts.push(SeccompRule::new(conds).map_err(|e| format!("rule for syscall {}: {e}", rule.nr))?);
            }
        }
    }
    let mut out = Vec::with_capacity(order.len());
    for (i, errno) in order.into_iter().enumerate() {
        let rules: BTreeMap<i64, Vec<SeccompRule>> =
            groups.remove(&errno).unwrap_or_default().into_iter().map(|(nr, r)| (nr, r.unwrap_or_default())).collect();
        let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), arch)
            .map_err(|e| format!("building the errno {errno} filter: {e}"))?;
        let mut program: BpfProgram =
            filter.try_into().map_err(|e| format!("compiling the errno {errno} filter: {e}"))?;
        if i == 0 && policy.x32_guard && cfg!(target_arch = "x86_64") {
            splice_x32_guard(&mut program)?;
        }
        out.push(Compiled { errno, program });
    }
    Ok(out)
}

/// Inserts `LD nr; JGE X32_BIT → RET ERRNO(EPERM)` right after seccompiler's 3-instruction
/// architecture check, so x32 syscall numbers never reach the number comparisons.
pub fn splice_x32_guard(program: &mut BpfProgram) -> Result<(), String> {
    let head_ok = program.len() > 3
        && program[0].code == LD_W_ABS
        && program[0].k == 4
        && program[1].code == JEQ_K
        && program[1].jt == 1
        && program[1].jf == 0
        && program[2].code == RET_K;
    if !head_ok {
        return Err("seccompiler's program does not start with the expected arch check".into());
    }
    let errno_eperm = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32);
    let guard = [
        sock_filter { code: LD_W_ABS, jt: 0, jf: 0, k: 0 },
        sock_filter { code: JGE_K, jt: 0, jf: 1, k: X32_BIT },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: errno_eperm },
    ];
    program.splice(3..3, guard);
    if program.len() > usize::from(u16::MAX) {
        return Err("the seccomp program is too long".into());
    }
    Ok(())
}

/// Compiles and installs every filter on this (single-threaded) process.
pub fn apply(policy: &Seccomp) -> Result<(), String> {
    for c in compile(policy)? {
        seccompiler::apply_filter(&c.program).map_err(|e| format!("installing the errno {} filter: {e}", c.errno))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ArgCond, SyscallRule};

    fn policy() -> Seccomp {
        Seccomp {
            x32_guard: true,
            rules: vec![
                SyscallRule { nr: 165, errno: 1, when: vec![] },
                SyscallRule { nr: 435, errno: 38, when: vec![] },
                SyscallRule {
                    nr: 135,
                    errno: 1,
                    when: vec![vec![
                        ArgCond { arg: 0, width: 4, op: CmpOp::Ne, mask: 0, value: 0 },
                        ArgCond { arg: 0, width: 4, op: CmpOp::Ne, mask: 0, value: 0xffff_ffff },
                    ]],
                },
            ],
        }
    }

    #[test]
    fn one_filter_per_errno_in_first_seen_order() {
        let compiled = compile(&policy()).expect("compiles");
        let errnos: Vec<u32> = compiled.iter().map(|c| c.errno).collect();
        assert_eq!(errnos, vec![1, 38]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_guard_sits_after_the_arch_check_of_the_first_filter_only() {
        let compiled = compile(&policy()).expect("compiles");
        let p = &compiled[0].program;
        assert_eq!((p[3].code, p[3].k), (LD_W_ABS, 0));
        assert_eq!((p[4].code, p[4].k, p[4].jf), (JGE_K, X32_BIT, 1));
        assert_eq!(p[5].k, libc::SECCOMP_RET_ERRNO | 1);
        let q = &compiled[1].program;
        assert!(!q.iter().any(|i| i.code == JGE_K && i.k == X32_BIT));
    }

    #[test]
    fn splice_refuses_an_unexpected_head() {
        let mut p = vec![sock_filter { code: RET_K, jt: 0, jf: 0, k: 0 }; 5];
        assert!(splice_x32_guard(&mut p).is_err());
    }
}
