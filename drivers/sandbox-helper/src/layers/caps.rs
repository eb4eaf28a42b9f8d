//! The capabilities layer: clear the bounding set, lock the securebits, clear ambient,
//! inheritable, effective and permitted, then verify all five sets are empty as the kernel
//! reports them in /proc/self/status. Trusts the kernel's report, nothing else.

use crate::sys;
use caps::CapSet;

/// NOROOT, NO_SETUID_FIXUP, KEEP_CAPS (off but locked), NO_CAP_AMBIENT_RAISE, all locked.
pub const SECUREBITS: u32 = 0b1110_1111;

/// Highest capability number we try; the kernel answers EINVAL past its last one.
const MAX_CAP: u32 = 63;

/// Drops every capability this process has or could regain. Errors name the step.
pub fn apply() -> Result<(), String> {
    // CAP_SETPCAP is needed for the bounding set and the securebits, so both go first,
    // while the effective set still has it (when it has it at all).
    let had_setpcap = caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP)
        .map_err(|e| format!("reading the effective set: {e}"))?;
    for cap in 0..=MAX_CAP {
        match sys::capbset_read(cap) {
            Ok(None) => break,
            Ok(Some(false)) => {}
            Ok(Some(true)) => {
                sys::capbset_drop(cap).map_err(|e| format!("dropping capability {cap} from the bounding set: {e}"))?
            }
            Err(e) => return Err(format!("reading bounding capability {cap}: {e}")),
        }
    }
    if had_setpcap {
        sys::set_securebits(SECUREBITS).map_err(|e| format!("setting securebits: {e}"))?;
    }
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(|e| format!("clearing the {set:?} set: {e}"))?;
    }
    verify()
}

/// Checks that /proc/self/status shows no capability in any set.
pub fn verify() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("reading /proc/self/status: {e}"))?;
    let mut seen = 0;
    for line in status.lines() {
        for key in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            if let Some(v) = line.strip_prefix(key) {
                seen += 1;
                let v = u64::from_str_radix(v.trim(), 16)
                    .map_err(|_| format!("unreadable {key} line in /proc/self/status"))?;
                if v != 0 {
                    return Err(format!("{key} is {v:#x} after the drop, expected 0"));
                }
            }
        }
    }
    if seen != 5 {
        return Err(format!("/proc/self/status shows {seen} of 5 capability sets"));
    }
    Ok(())
}
