//! What the helper reports back to the outer `yoe` over its status channel (fd 0, a
//! socket), and the exit codes it uses when a layer cannot be applied. The outer side
//! trusts a record only because the step never gets that socket (the helper replaces
//! fd 0 with /dev/null and marks the copy close-on-exec before it execs the step).

use std::fmt;

/// A layer of the helper, in the order it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Reading and decoding the policy.
    Policy,
    /// Bounding set, securebits, all capability sets.
    Caps,
    Landlock,
    NoNewPrivs,
    Seccomp,
    Rlimits,
    /// Closing inherited fds and putting /dev/null on stdin.
    Fds,
    /// Dying with bwrap (PR_SET_PDEATHSIG), and refusing to start when yoe is gone.
    Parent,
    /// execve of the step.
    Exec,
}

impl Layer {
    /// Every layer, in application order.
    pub const ALL: [Layer; 9] = [
        Layer::Policy,
        Layer::Caps,
        Layer::Landlock,
        Layer::NoNewPrivs,
        Layer::Seccomp,
        Layer::Rlimits,
        Layer::Fds,
        Layer::Parent,
        Layer::Exec,
    ];

    /// The helper's exit code when this layer fails (distinct per layer).
    pub fn exit_code(self) -> u8 {
        match self {
            Layer::Policy => 65,
            Layer::Caps => 70,
            Layer::Landlock => 71,
            Layer::NoNewPrivs => 72,
            Layer::Seccomp => 73,
            Layer::Rlimits => 74,
            Layer::Fds => 75,
            Layer::Exec => 76,
            Layer::Parent => 77,
        }
    }

    /// The name used in messages and records.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Policy => "policy",
            Layer::Caps => "caps",
            Layer::Landlock => "landlock",
            Layer::NoNewPrivs => "no_new_privs",
            Layer::Seccomp => "seccomp",
            Layer::Rlimits => "rlimits",
            Layer::Fds => "fds",
            Layer::Parent => "parent",
            Layer::Exec => "exec",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The byte yoe sends back after `ready` to let the helper exec the step. yoe sends it
/// from the thread that spawned bwrap, and only while it is not cancelling.
pub const GO: u8 = b'g';

/// One record on the status channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Every layer is applied and the step is tied to bwrap's life; the helper waits for
    /// yoe's [`GO`] and then execs the step.
    Ready,
    /// A layer failed; the step never ran.
    Failed { layer: Layer, message: String },
}

impl Record {
    /// One line, newline-terminated.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Ready => b"ready\n".to_vec(),
            Record::Failed { layer, message } => {
                let msg: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).take(512).collect();
                format!("failed {} {}\n", layer.name(), msg).into_bytes()
            }
        }
    }

    /// The last complete record in `bytes` (the helper writes `Ready` and then, if exec
    /// fails, `Failed`). `None` when there is none: the helper never got that far.
    pub fn last_in(bytes: &[u8]) -> Option<Record> {
        let text = String::from_utf8_lossy(bytes);
        let mut last = None;
        for line in text.split_inclusive('\n') {
            let Some(line) = line.strip_suffix('\n') else {
                break;
            };
            if line == "ready" {
                last = Some(Record::Ready);
            } else if let Some(rest) = line.strip_prefix("failed ") {
                let (name, message) = rest.split_once(' ').unwrap_or((rest, ""));
                if let Some(layer) = Layer::from_name(name) {
                    last = Some(Record::Failed { layer, message: message.to_string() });
                }
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let mut codes: Vec<u8> = Layer::ALL.iter().map(|l| l.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Layer::ALL.len());
    }

    #[test]
    fn records_roundtrip_and_last_wins() {
        let failed = Record::Failed { layer: Layer::Exec, message: "no such\nfile".into() };
        let mut bytes = Record::Ready.encode();
        assert_eq!(Record::last_in(&bytes), Some(Record::Ready));
        bytes.extend(failed.encode());
        assert_eq!(
            Record::last_in(&bytes),
            Some(Record::Failed { layer: Layer::Exec, message: "no such file".into() })
        );
        assert_eq!(Record::last_in(b"read"), None);
        assert_eq!(Record::last_in(b"failed bogus x\n"), None);
    }
}
