//! Running untrusted evaluation on a thread of its own, under the hard bounds of
//! `yoe_sandbox_helper::budget`: a byte budget counted by the global allocator, a stack of
//! a fixed size whose overflow stops the thread instead of the process, and (for loads) a
//! deadline on the thread's CPU time. The caller waits, polling the budget's flags and the
//! clock; when
//! the thread is stopped or overstays, the caller gets [`Stop`] and the thread is abandoned
//! (detached; what it holds stays counted against the process cap). Everything the thread
//! needs is moved into it, so nothing it can touch outlives the call on the caller's side.
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Once};
use std::time::Duration;

use yoe_sandbox_helper::budget::{self, Budget};

use super::limits::{Limit, LoadLimits};
use super::meter::Clock;

/// How often the waiting thread looks at the flags.
const POLL: Duration = Duration::from_millis(5);
/// How long past the clock's budget the waiting thread lets the evaluator run, so that the
/// evaluator's own checks (which end it cleanly, at a statement) get the first chance.
pub const GRACE: Duration = Duration::from_millis(250);

/// Why the thread did not deliver a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Stopped for good by a hard limit (memory, stack), or overstayed the clock
    /// (`Limit::CpuMs`), or could not start because abandoned threads fill the cap.
    Limit(Limit),
    /// The evaluator panicked (a bug in starlark or yoe that the input reached: starlark
    /// asserts, for one, that no single value is 4 GiB or more); the message is the panic's.
    Panicked(String),
    /// The thread could not be spawned.
    Failed(String),
}

/// The names of bounded threads (the panic hook keeps their panics quiet, since they are
/// caught and reported). Only these: a panic elsewhere is a crash and must say so.
pub const LOAD: &str = "yoe-load";
pub const FN_STEP: &str = "yoe-fn";

/// A panic on a bounded thread is caught and reported as the load's error; the default
/// hook would print it (with a backtrace) as if yoe had crashed. Other threads keep it.
fn quiet_panics_of_bounded_threads() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let bounded = std::thread::current().name().is_some_and(|n| n == LOAD || n == FN_STEP);
            if bounded {
                tracing::debug!("evaluation thread panicked: {info}");
            } else {
                default(info);
            }
        }));
    });
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run `f` on a new thread bounded by `limits` (and by `clock`, if given), and wait for it.
/// `name` is [`LOAD`] or [`FN_STEP`].
pub fn run<T: Send + 'static>(
    name: &'static str,
    limits: &LoadLimits,
    clock: Option<Arc<Clock>>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stop> {
    budget::set_process_cap(limits.bytes(Limit::ProcessBytes));
    let stack = limits.bytes(Limit::StackBytes);
    let b = Budget::new(limits.bytes(Limit::ThreadBytes), stack).map_err(|_| Stop::Limit(Limit::ProcessBytes))?;
    quiet_panics_of_bounded_threads();
    let (tx, rx) = sync_channel::<Result<T, String>>(1);
    let inner = b.clone();
    let thread_clock = clock.clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(stack)
        .spawn(move || {
            if let Some(c) = &thread_clock {
                c.bind();
            }
            let out = {
                let _entered = inner.enter();
                std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()))
            };
            // Nobody may be waiting any more (abandoned): then the result is dropped here.
            let _ = tx.send(out);
        })
        .map_err(|e| Stop::Failed(format!("starting the evaluation thread: {e}")))?;
    let settle = || {
        if let Some(c) = &clock {
            c.settle();
        }
    };
    loop {
        match rx.recv_timeout(POLL) {
            Ok(out) => {
                settle();
                tracing::debug!(thread = name, peak_bytes = b.peak(), "evaluation thread done");
                return out.map_err(Stop::Panicked);
            }
            Err(RecvTimeoutError::Disconnected) => {
                settle();
                return Err(Stop::Failed("the evaluation thread panicked (see above)".into()));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let stop = if b.memory_exceeded() {
            Limit::ThreadBytes
        } else if b.stack_exhausted() {
            Limit::StackBytes
        } else if clock.as_ref().is_some_and(|c| c.over(GRACE)) {
            Limit::CpuMs
        } else {
            continue;
        };
        // A result may have arrived meanwhile: prefer it.
        settle();
        if let Ok(out) = rx.try_recv() {
            return out.map_err(Stop::Panicked);
        }
        b.abandon();
        tracing::debug!(limit = %stop, used = b.used(), "evaluation thread abandoned");
        return Err(Stop::Limit(stop));
    }
}
