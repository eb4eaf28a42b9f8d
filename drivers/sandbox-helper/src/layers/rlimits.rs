//! The rlimits layer: lowers each listed resource limit to the policy's values (never
//! raises one: a limit already lower than the policy's stays). Trusts the decoded policy.

use crate::sys;
use crate::wire::Rlimit;

/// Applies every limit; errors name the resource.
pub fn apply(limits: &[Rlimit]) -> Result<(), String> {
    for l in limits {
        let (_, cur_hard) = sys::getrlimit(l.resource).map_err(|e| format!("reading rlimit {}: {e}", l.resource))?;
        let hard = l.hard.min(cur_hard);
        let soft = l.soft.min(hard);
        sys::setrlimit(l.resource, soft, hard)
            .map_err(|e| format!("setting rlimit {} to {soft}/{hard}: {e}", l.resource))?;
        let (s, h) = sys::getrlimit(l.resource).map_err(|e| format!("reading back rlimit {}: {e}", l.resource))?;
        if s > l.soft || h > l.hard {
            return Err(format!(
                "rlimit {} is {s}/{h} after setting, above the policy's {}/{}",
                l.resource, l.soft, l.hard
            ));
        }
    }
    Ok(())
}
