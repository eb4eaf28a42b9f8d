//! Metering one load (or one `fn` step) against its [`LoadLimits`]: the steps taken, the
//! memory the evaluating thread holds and the time spent, checked before every statement
//! (a `before_stmt` hook) and every 1,000 Starlark ticks (the evaluator's cancellation
//! check), plus starlark's own call-stack, heap and tick knobs. The meter also remembers
//! the statement being run, so a limit hit anywhere, even one that stops the thread for
//! good, names file:line:col. Shared between the evaluating thread and the one waiting for
//! it; everything in it is atomic or behind a lock taken only for a moment.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::starlark::codemap::{CodeMap, CodeMapId, FileSpanRef, Pos, Span};
use ::starlark::eval::{BeforeStmtFunc, BeforeStmtFuncDyn, Evaluator};
use yoe_sandbox_helper::budget;

use super::limits::{self, Limit, LoadLimits};
use crate::model::Location;

/// The time a load costs: CPU time of the thread that evaluates it (so a busy machine,
/// parallel tests or a slow CI runner do not make a legitimate load fail), not counting
/// trusted work (verifying modules in the cache), summed over the threads of a load's
/// attempts (`yoe audit` retries), with an optional budget. A wall-clock backstop of
/// [`WALL_FACTOR`] × the budget stops a thread that gets no CPU at all. In debug builds (the
/// test suite) the budget is [`DEBUG_FACTOR`] × the policy's, as evaluation is that much
/// slower there.
pub struct Clock {
    start: Instant,
    budget: Option<Duration>,
    /// The evaluating thread (0: none bound).
    tid: AtomicI32,
    /// Its CPU time when it was bound, in nanoseconds.
    base: AtomicU64,
    /// CPU nanoseconds of earlier threads of this load, and paused time, to leave out.
    spent: AtomicU64,
    paused: AtomicU64,
    /// CPU time of the bound thread when the current pause began, plus one (0: running).
    paused_at: AtomicU64,
    /// The last CPU time read for the bound thread (it may end before it is settled).
    last: AtomicU64,
}

/// Wall-clock backstop, as a multiple of the budget.
pub const WALL_FACTOR: u32 = 4;
/// The budget of a debug build, as a multiple of the policy's.
pub const DEBUG_FACTOR: u32 = if cfg!(debug_assertions) { 4 } else { 1 };

impl Clock {
    pub fn new(budget: Option<Duration>) -> Arc<Clock> {
        Arc::new(Clock {
            start: Instant::now(),
            budget: budget.map(|b| b * DEBUG_FACTOR),
            tid: AtomicI32::new(0),
            base: AtomicU64::new(0),
            spent: AtomicU64::new(0),
            paused: AtomicU64::new(0),
            paused_at: AtomicU64::new(0),
            last: AtomicU64::new(0),
        })
    }

    /// Count the CPU time of the calling thread from now on (it evaluates the load).
    pub fn bind(&self) {
        self.settle();
        self.base.store(own_cpu_nanos(), Ordering::SeqCst);
        self.last.store(0, Ordering::SeqCst);
        self.tid.store(rustix::thread::gettid().as_raw_nonzero().get(), Ordering::SeqCst);
    }

    /// The bound thread is done (or abandoned): keep what it spent, unbind it.
    pub fn settle(&self) {
        let tid = self.tid.swap(0, Ordering::SeqCst);
        if tid != 0 {
            let used = self.thread_nanos(tid);
            self.spent.fetch_add(used, Ordering::SeqCst);
        }
    }

    /// CPU nanoseconds the bound thread used since it was bound.
    fn thread_nanos(&self, tid: i32) -> u64 {
        let now = if tid == rustix::thread::gettid().as_raw_nonzero().get() {
            Some(own_cpu_nanos())
        } else {
            thread_cpu_nanos(tid)
        };
        let used = match now {
            Some(n) => n.saturating_sub(self.base.load(Ordering::SeqCst)),
            // The thread has ended: what was last read is what it used.
            None => self.last.load(Ordering::SeqCst),
        };
        self.last.fetch_max(used, Ordering::SeqCst);
        used
    }

    /// Time counted so far.
    pub fn elapsed(&self) -> Duration {
        let tid = self.tid.load(Ordering::SeqCst);
        let mut current = if tid == 0 { 0 } else { self.thread_nanos(tid) };
        let at = self.paused_at.load(Ordering::SeqCst);
        if at != 0 {
            current = current.min(at - 1);
        }
        let total = self.spent.load(Ordering::SeqCst).saturating_add(current);
        Duration::from_nanos(total.saturating_sub(self.paused.load(Ordering::SeqCst)))
    }

    /// Whether the budget (plus `grace`) is spent, or the wall-clock backstop passed.
    pub fn over(&self, grace: Duration) -> bool {
        self.budget.is_some_and(|b| self.elapsed() > b + grace || self.start.elapsed() > b * WALL_FACTOR + grace)
    }

    /// Stop counting until the guard drops (on the bound thread). Pauses do not nest.
    pub fn pause(&self) -> Pause<'_> {
        let now = self.own_used();
        self.paused_at.store(now.saturating_add(1), Ordering::SeqCst);
        Pause(self)
    }

    /// CPU nanoseconds the calling (bound) thread used since it was bound.
    fn own_used(&self) -> u64 {
        own_cpu_nanos().saturating_sub(self.base.load(Ordering::SeqCst))
    }
}

/// CPU time of the calling thread, in nanoseconds.
fn own_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// CPU time of thread `tid` of this process (`/proc/self/task/<tid>/schedstat`, whose first
/// field is nanoseconds on the CPU); `None` once the thread has ended.
fn thread_cpu_nanos(tid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// See [`Clock::pause`].
pub struct Pause<'a>(&'a Clock);

impl Drop for Pause<'_> {
    fn drop(&mut self) {
        let at = self.0.paused_at.swap(0, Ordering::SeqCst);
        if at != 0 {
            let spent = self.0.own_used().saturating_sub(at - 1);
            self.0.paused.fetch_add(spent, Ordering::SeqCst);
        }
    }
}

/// The counters of one load.
pub struct Meter {
    pub limits: LoadLimits,
    pub clock: Arc<Clock>,
    /// Statements executed.
    statements: AtomicU64,
    /// Ticks of the evaluators that finished.
    ticks: AtomicU64,
    /// Ticks of the running evaluator, 1,000 per cancellation check.
    live_ticks: AtomicU64,
    /// The limit that stopped the evaluation, as `Limit` index + 1 (0: none).
    tripped: AtomicU8,
    /// The file of the statement being run, and its byte offset.
    codemap: Mutex<Option<CodeMap>>,
    pos: AtomicU32,
    /// The file the loader is evaluating (a load target, a walked file).
    file: Mutex<Option<PathBuf>>,
}

/// The error that unwinds an evaluation stopped at a limit (the loader turns it into
/// `LoadError::Limit`, placed at the statement the meter remembers).
#[derive(Debug, thiserror::Error)]
#[error("{}: load limit `{limit}` = {value}", limit.what())]
pub struct Stopped {
    pub limit: Limit,
    pub value: u64,
}

/// Counters to return to when `yoe audit` leaves a file out (its cost is refunded).
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    statements: u64,
    ticks: u64,
}

impl Meter {
    pub fn new(limits: LoadLimits, clock: Arc<Clock>) -> Arc<Meter> {
        Arc::new(Meter {
            limits,
            clock,
            statements: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            live_ticks: AtomicU64::new(0),
            tripped: AtomicU8::new(0),
            codemap: Mutex::new(None),
            pos: AtomicU32::new(0),
            file: Mutex::new(None),
        })
    }

    /// Record that `limit` stopped the evaluation (the first one wins) and make the
    /// Starlark error that unwinds it.
    pub fn trip(&self, limit: Limit) -> ::starlark::Error {
        let code = Limit::ALL.iter().position(|l| *l == limit).map_or(0, |i| i as u8 + 1);
        let _ = self.tripped.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        ::starlark::Error::new_other(Stopped { limit, value: limit.value(&self.limits) })
    }

    /// The limit that stopped the evaluation, clearing it.
    pub fn take_tripped(&self) -> Option<Limit> {
        let code = self.tripped.swap(0, Ordering::SeqCst);
        Limit::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// Statements and ticks counted so far (for logs and tuning the limits).
    pub fn counts(&self) -> (u64, u64) {
        (self.statements.load(Ordering::SeqCst), self.ticks.load(Ordering::SeqCst))
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { statements: self.statements.load(Ordering::SeqCst), ticks: self.ticks.load(Ordering::SeqCst) }
    }

    pub fn restore(&self, cp: Checkpoint) {
        self.statements.store(cp.statements, Ordering::SeqCst);
        self.ticks.store(cp.ticks, Ordering::SeqCst);
    }

    /// The loader starts evaluating `path` (compiling it first: until its first statement
    /// runs, a limit hit is placed in the file, without a line).
    pub fn set_file(&self, path: &Path) {
        let p = path.to_path_buf();
        if let Ok(mut f) = self.file.lock() {
            *f = Some(p);
        }
        let old = self.codemap.lock().ok().and_then(|mut g| g.take());
        drop(old);
    }

    /// The file being evaluated: the one holding the statement being run, else the one the
    /// loader started. `try_lock`: the evaluating thread may be stopped holding a lock.
    pub fn file(&self) -> Option<PathBuf> {
        if let Ok(g) = self.codemap.try_lock()
            && let Some(m) = g.as_ref()
        {
            return Some(PathBuf::from(m.filename()));
        }
        self.file.try_lock().ok().and_then(|g| g.clone())
    }

    /// Where the statement being run is (file:line:col), if any ran.
    pub fn location(&self) -> Option<Location> {
        let map = self.codemap.try_lock().ok()?.clone()?;
        let end = map.full_span().end().get();
        let pos = self.pos.load(Ordering::SeqCst).min(end);
        let r = map.file_span(Span::new(Pos::new(pos), Pos::new(pos))).resolve_span();
        Some(Location {
            file: PathBuf::from(map.filename()),
            line: r.begin.line as u32 + 1,
            column: r.begin.column as u32 + 1,
            end_line: r.end.line as u32 + 1,
            end_column: r.end.column as u32 + 1,
        })
    }

    fn note_statement(&self, span: FileSpanRef, last: &mut Option<CodeMapId>) {
        let id = span.file.id();
        if *last != Some(id) {
            // Clone outside the lock (an Arc increment; nothing is allocated under it).
            let map = span.file.clone();
            if let Ok(mut g) = self.codemap.lock() {
                let old = g.replace(map);
                drop(g);
                drop(old);
            }
            *last = Some(id);
        }
        self.pos.store(span.span.begin().get(), Ordering::SeqCst);
    }

    fn total_ticks(&self, current: u64) -> u64 {
        self.ticks.load(Ordering::Relaxed).saturating_add(current)
    }

    /// Memory the current thread holds, by its allocator budget.
    fn held(&self) -> u64 {
        budget::used().map_or(0, |u| u64::try_from(u).unwrap_or(0))
    }

    /// The checks made every 1,000 ticks (from the evaluator's cancellation callback).
    fn infrequent(&self) -> Option<Limit> {
        let live = self.live_ticks.fetch_add(1000, Ordering::Relaxed) + 1000;
        if self.total_ticks(live) > self.limits.max_steps {
            return Some(Limit::Steps);
        }
        if self.held() > self.limits.max_heap_bytes {
            return Some(Limit::HeapBytes);
        }
        if self.clock.over(Duration::ZERO) {
            return Some(Limit::CpuMs);
        }
        None
    }

    /// Apply the limits to an evaluator about to run one file (or one `fn` step). Call
    /// [`Meter::finish`] when it is done.
    pub fn arm<'v, 'a, 'e: 'a>(self: &Arc<Meter>, eval: &mut Evaluator<'v, 'a, 'e>) -> Result<(), Limit> {
        let l = &self.limits;
        let spent = self.ticks.load(Ordering::SeqCst);
        let remaining = l.max_steps.checked_sub(spent).filter(|r| *r > 0).ok_or(Limit::Steps)?;
        self.live_ticks.store(0, Ordering::SeqCst);
        // starlark's own knobs, as a second line behind the checks below (which run first
        // and see the whole load, not one file).
        let _ = eval.set_max_callstack_size(l.depth(Limit::CallDepth));
        let _ = eval.set_max_heap_size(l.bytes(Limit::HeapBytes));
        let _ = eval.set_max_tick_count(remaining.saturating_add(1));
        let m = self.clone();
        eval.set_check_cancelled(Box::new(move || match m.infrequent() {
            Some(limit) => {
                let _ = m.trip(limit);
                true
            }
            None => false,
        }));
        eval.before_stmt_for_dap(BeforeStmtFunc::from_dyn(Box::new(StmtHook {
            meter: self.clone(),
            last: None,
            n: 0,
        })));
        Ok(())
    }

    /// The evaluator armed with [`Meter::arm`] is done.
    pub fn finish(&self, eval: &Evaluator) {
        self.ticks.fetch_add(eval.get_total_tick_count(), Ordering::SeqCst);
        self.live_ticks.store(0, Ordering::SeqCst);
    }

    /// The message of a limit hit, placed at the statement being run (else at `what`).
    pub fn hit(&self, limit: Limit, what: &str) -> String {
        let place = match self.location() {
            Some(l) => l.to_string(),
            None => what.to_string(),
        };
        limits::message(&place, limit, limit.value(&self.limits))
    }

    /// The error for a thread that was stopped (or is still running past the deadline):
    /// the limit, and where the thread was.
    pub fn place(&self) -> (PathBuf, Option<Location>) {
        let location = self.location();
        let file = location.as_ref().map(|l| l.file.clone()).or_else(|| self.file()).unwrap_or_default();
        (file, location)
    }
}

/// Runs before every statement of an armed evaluator.
struct StmtHook {
    meter: Arc<Meter>,
    last: Option<CodeMapId>,
    n: u32,
}

impl<'e> BeforeStmtFuncDyn<'e> for StmtHook {
    fn call<'v>(
        &mut self,
        span: FileSpanRef,
        _continued: bool,
        eval: &mut Evaluator<'v, '_, 'e>,
    ) -> ::starlark::Result<()> {
        let m = &self.meter;
        m.note_statement(span, &mut self.last);
        let statements = m.statements.fetch_add(1, Ordering::Relaxed) + 1;
        if statements > m.limits.max_steps || m.total_ticks(eval.get_total_tick_count()) > m.limits.max_steps {
            return Err(m.trip(Limit::Steps));
        }
        if m.held() > m.limits.max_heap_bytes {
            return Err(m.trip(Limit::HeapBytes));
        }
        // The clock costs ~25 ns a read: every 16th statement keeps that out of tight loops,
        // and the waiting thread's deadline covers one slow statement anyway.
        self.n = self.n.wrapping_add(1);
        if self.n.is_multiple_of(16) && m.clock.over(Duration::ZERO) {
            return Err(m.trip(Limit::CpuMs));
        }
        Ok(())
    }
}
