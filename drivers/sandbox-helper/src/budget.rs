//! Hard bounds for a thread that runs untrusted code inside yoe's own process (a Starlark
//! load, a Starlark `fn` step): [`BudgetAlloc`], a counting global allocator that holds
//! such a thread to a byte [`Budget`], and a stack guard that catches the thread running
//! off the end of its stack. Either way the thread is *stopped*: it is parked for good
//! (it sleeps forever, keeping what it holds), its budget is flagged, and the thread that
//! waits for it sees the flag and abandons it. Returning null would make Rust abort and
//! unwinding out of the allocator is undefined behaviour, so parking is the only exit that
//! keeps the process alive. Memory of abandoned threads stays counted against a
//! process-wide cap, so however often a caller retries, the total stays bounded.
//!
//! Trusts nothing about the code the thread runs; the paths taken inside the allocator and
//! the signal handler allocate nothing, take no lock and touch only const-initialised
//! thread-locals that have no destructor.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// The global allocator of yoe: the system allocator, counting what budgeted threads
/// allocate. A thread without an active budget pays one thread-local read per call.
pub struct BudgetAlloc;

struct Inner {
    /// Bytes this budget lets its thread hold.
    limit: usize,
    /// Bytes of the process cap this budget stands for (limit + stack), counted as
    /// abandoned when its thread is.
    reserved: usize,
    /// Bytes allocated minus bytes freed by the thread while the budget was active (freeing
    /// memory allocated before can make it negative).
    used: AtomicIsize,
    /// The highest `used` seen (only the budget's own thread writes either).
    peak: AtomicIsize,
    memory_exceeded: AtomicBool,
    stack_exhausted: AtomicBool,
    abandoned: AtomicBool,
}

thread_local! {
    /// The budget active on this thread (null: none). Set and cleared only by this thread,
    /// by [`Entered`], which keeps the budget alive meanwhile.
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
    /// The address range whose fault means "this thread ran off its stack" (empty: none).
    static GUARD: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Bytes the budgets of abandoned threads stand for.
static ABANDONED: AtomicUsize = AtomicUsize::new(0);
/// The process-wide cap: abandoned budgets plus a new one must fit.
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets the process-wide cap (bytes of abandoned budgets plus the next one granted).
pub fn set_process_cap(bytes: usize) {
    CAP.store(bytes, Ordering::SeqCst);
}

/// Bytes of the process cap that abandoned threads hold.
pub fn abandoned_bytes() -> usize {
    ABANDONED.load(Ordering::SeqCst)
}

/// The budget of the current thread, if one is active.
fn current() -> Option<&'static Inner> {
    let p = CURRENT.try_with(Cell::get).unwrap_or(std::ptr::null());
    // SAFETY: a non-null CURRENT was set by `Budget::enter` on this thread from an
    // `Arc<Inner>` that the returned `Entered` owns; `Entered` resets CURRENT before it
    // drops that Arc, and it cannot leave the thread (it is !Send). So the pointee is alive
    // for as long as CURRENT holds it. The 'static is never observed beyond that: callers
    // use the reference within the allocator call or the signal handler that read it.
    unsafe { p.as_ref() }
}

/// Park the current thread forever. Allocates nothing.
fn park() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// What an allocation of `size` bytes costs in memory: glibc's chunk for it (an 8-byte
/// header, 16-byte alignment, 32 bytes at least), so that many small allocations are
/// counted near what they occupy, not what was asked for.
#[inline]
fn footprint(size: usize) -> usize {
    (size.saturating_add(8 + 15) & !15).max(32)
}

// `used` and `peak` have one writer, the budget's own thread (CURRENT is only ever set on
// it), so plain loads and stores suffice: no read-modify-write on every allocation.

#[inline]
fn charge(bytes: usize) {
    let Some(inner) = current() else { return };
    let add = isize::try_from(bytes).unwrap_or(isize::MAX);
    let used = inner.used.load(Ordering::Relaxed).saturating_add(add);
    if used > isize::try_from(inner.limit).unwrap_or(isize::MAX) {
        inner.memory_exceeded.store(true, Ordering::SeqCst);
        park();
    }
    inner.used.store(used, Ordering::Relaxed);
    if used > inner.peak.load(Ordering::Relaxed) {
        inner.peak.store(used, Ordering::Relaxed);
    }
}

#[inline]
fn credit(bytes: usize) {
    if let Some(inner) = current() {
        let sub = isize::try_from(bytes).unwrap_or(isize::MAX);
        inner.used.store(inner.used.load(Ordering::Relaxed).saturating_sub(sub), Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; the bookkeeping around the calls only reads and writes
// atomics and thread-locals and never allocates (no recursion into the allocator).
unsafe impl GlobalAlloc for BudgetAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(footprint(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size).
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            credit(footprint(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(footprint(layout.size()));
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            credit(footprint(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (that is, `System`) returned,
        // with the layout it was allocated with.
        unsafe { System.dealloc(ptr, layout) };
        credit(footprint(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old, new) = (footprint(layout.size()), footprint(new_size));
        if new > old {
            charge(new - old);
        }
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract for `ptr`, `layout`
        // and `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new > old {
                credit(new - old);
            }
        } else if new < old {
            credit(old - new);
        }
        p
    }
}

/// The last holder of a budget is gone: its thread ended (a parked thread never does, so
/// its budget is never dropped). If it was abandoned, what it stood for is free again.
impl Drop for Inner {
    fn drop(&mut self) {
        if self.abandoned.load(Ordering::SeqCst) {
            ABANDONED.fetch_sub(self.reserved, Ordering::SeqCst);
        }
    }
}

/// A new budget could not be granted: abandoned threads hold too much of the process cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapExhausted {
    /// Bytes of the cap still free.
    pub room: usize,
    pub cap: usize,
}

/// A byte budget for one thread, shared between that thread (which [`Budget::enter`]s it)
/// and the thread that waits for it.
#[derive(Clone)]
pub struct Budget(Arc<Inner>);

impl Budget {
    /// A budget of `limit` bytes for a thread whose stack is `stack` bytes, if the process
    /// cap has room for both next to what abandoned threads hold.
    pub fn new(limit: usize, stack: usize) -> Result<Budget, CapExhausted> {
        let cap = CAP.load(Ordering::SeqCst);
        let room = cap.saturating_sub(ABANDONED.load(Ordering::SeqCst));
        let reserved = limit.saturating_add(stack);
        if reserved > room {
            return Err(CapExhausted { room, cap });
        }
        Ok(Budget(Arc::new(Inner {
            limit,
            reserved,
            used: AtomicIsize::new(0),
            peak: AtomicIsize::new(0),
            memory_exceeded: AtomicBool::new(false),
            stack_exhausted: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        })))
    }

    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Bytes counted so far (negative when the thread freed more than it allocated).
    pub fn used(&self) -> isize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// The most the thread held at once while the budget was active.
    pub fn peak(&self) -> isize {
        self.0.peak.load(Ordering::Relaxed)
    }

    /// Whether the thread was stopped because an allocation would have exceeded the budget.
    pub fn memory_exceeded(&self) -> bool {
        self.0.memory_exceeded.load(Ordering::SeqCst)
    }

    /// Whether the thread was stopped because it ran off its stack.
    pub fn stack_exhausted(&self) -> bool {
        self.0.stack_exhausted.load(Ordering::SeqCst)
    }

    /// The thread will not be waited for any more: what its budget stands for stays counted
    /// against the process cap until the thread ends (a parked thread never does) and every
    /// handle to the budget is dropped. Idempotent.
    pub fn abandon(&self) {
        if !self.0.abandoned.swap(true, Ordering::SeqCst) {
            ABANDONED.fetch_add(self.0.reserved, Ordering::SeqCst);
        }
    }

    /// Make this the current thread's budget until the returned guard drops: every
    /// allocation of the thread is counted, and the thread is stopped instead of exceeding
    /// the budget or overflowing its stack.
    pub fn enter(&self) -> Entered {
        install_fault_handler();
        let guard = stack_guard_range();
        ensure_alt_stack();
        let inner = self.0.clone();
        let prev = CURRENT.try_with(|c| c.replace(Arc::as_ptr(&inner))).unwrap_or(std::ptr::null());
        let prev_guard = GUARD.try_with(|g| g.replace(guard)).unwrap_or((0, 0));
        Entered { _inner: inner, prev, prev_guard, _not_send: PhantomData }
    }
}

/// An active budget on the current thread; dropping it restores what was active before.
pub struct Entered {
    _inner: Arc<Inner>,
    prev: *const Inner,
    prev_guard: (usize, usize),
    /// Pinned to the thread that entered (the raw pointer makes it !Send and !Sync).
    _not_send: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = GUARD.try_with(|g| g.set(self.prev_guard));
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// Bytes the current thread's active budget has counted, if one is active.
pub fn used() -> Option<isize> {
    current().map(|i| i.used.load(Ordering::Relaxed))
}

/// Allocations of the current thread are not counted until the returned guard drops
/// (for trusted work done on a budgeted thread, such as verifying a module in the cache).
pub fn suspend() -> Suspended {
    let prev = CURRENT.try_with(|c| c.replace(std::ptr::null())).unwrap_or(std::ptr::null());
    Suspended { prev, _not_send: PhantomData }
}

/// See [`suspend`].
pub struct Suspended {
    prev: *const Inner,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Suspended {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

// ---- the stack guard ---------------------------------------------------------------------

/// The handlers that were installed for SIGSEGV and SIGBUS before ours (std's stack
/// overflow reporter, normally), as `sa_sigaction` and `sa_flags`.
static PREV_SEGV: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(libc::SIG_DFL), AtomicUsize::new(0));
static PREV_BUS: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(libc::SIG_DFL), AtomicUsize::new(0));

fn install_fault_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (sig, prev) in [(libc::SIGSEGV, &PREV_SEGV), (libc::SIGBUS, &PREV_BUS)] {
            // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags); every
            // field the kernel reads is set below.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = on_fault as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: a zeroed sigaction is valid storage for the old action.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are to live, initialised sigaction values; sigemptyset
            // only writes the mask it is given.
            let rc = unsafe {
                libc::sigemptyset(&mut new.sa_mask);
                libc::sigaction(sig, &new, &mut old)
            };
            if rc == 0 {
                prev.0.store(old.sa_sigaction, Ordering::SeqCst);
                prev.1.store(usize::try_from(old.sa_flags).unwrap_or(0), Ordering::SeqCst);
            }
        }
    });
}

/// The current thread's guard area: the pages below its lowest usable stack address, with
/// slack for a frame that skips a little past the guard page.
fn stack_guard_range() -> (usize, usize) {
    const SLACK: usize = 64 << 10;
    // SAFETY: a zeroed pthread_attr_t is valid storage for pthread_getattr_np to fill.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_self() is the calling thread; attr is initialised by
    // pthread_getattr_np and destroyed below only if that succeeded.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), &mut attr) } != 0 {
        return (0, 0);
    }
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    let mut guard: libc::size_t = 0;
    // SAFETY: attr was initialised above; the out-pointers point to live locals.
    let ok = unsafe {
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0
            && libc::pthread_attr_getguardsize(&attr, &mut guard) == 0
    };
    // SAFETY: attr was initialised by pthread_getattr_np and is not used afterwards.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    if !ok || addr.is_null() {
        return (0, 0);
    }
    let low = addr as usize;
    let page = 4096;
    (low.saturating_sub(guard.max(page) + SLACK), low + page)
}

/// Signal handlers run on an alternate stack (the thread's own is the one that ran out).
/// std gives threads it spawns one; give this thread one if it has none.
fn ensure_alt_stack() {
    // SAFETY: a zeroed stack_t is valid storage for the current alternate stack.
    let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new stack only queries; cur is a live local.
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) } != 0 || cur.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    const SIZE: usize = 64 << 10;
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return;
    }
    let st = libc::stack_t { ss_sp: p, ss_flags: 0, ss_size: SIZE };
    // SAFETY: st describes the mapping made above, which is never unmapped (the thread
    // may be parked on it for good).
    unsafe { libc::sigaltstack(&st, std::ptr::null_mut()) };
}

/// SIGSEGV/SIGBUS: a fault in the guard area of a budgeted thread stops that thread;
/// anything else goes to the handler that was there before (std's, which reports a stack
/// overflow of an unguarded thread and aborts) or to the default action.
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler; si_addr is the
    // faulting address for SIGSEGV and SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (lo, hi) = GUARD.try_with(Cell::get).unwrap_or((0, 0));
    if lo < hi
        && (lo..hi).contains(&addr)
        && let Some(inner) = current()
    {
        inner.stack_exhausted.store(true, Ordering::SeqCst);
        loop {
            let ts = libc::timespec { tv_sec: 3600, tv_nsec: 0 };
            // SAFETY: nanosleep is async-signal-safe; ts is a live local.
            unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        }
    }
    let prev = if sig == libc::SIGBUS { &PREV_BUS } else { &PREV_SEGV };
    let handler = prev.0.load(Ordering::SeqCst);
    let flags = i32::try_from(prev.1.load(Ordering::SeqCst)).unwrap_or(0);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and
        // the kernel delivers the signal with its default effect.
        // SAFETY: a zeroed sigaction with SIG_DFL (0) is the default disposition.
        let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: sigaction is async-signal-safe; dfl is a live, initialised value.
        unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
    } else if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
        // signature; it gets exactly the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute::<usize, _>(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the previous handler was installed without SA_SIGINFO, so it takes the
        // signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute::<usize, _>(handler) };
        f(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[global_allocator]
    static ALLOC: BudgetAlloc = BudgetAlloc;

    /// The process cap is global: tests that create budgets take turns.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (up to 30 s, a harness timeout, not a timing assertion) for `done`.
    fn wait_for(done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn counts_and_stops_a_thread_that_allocates_past_its_budget() {
        let _serial = serial();
        let b = Budget::new(64 << 20, 1 << 20).unwrap();
        let b2 = b.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _e = b2.enter();
            let small = vec![1u8; 1 << 20];
            tx.send(used()).unwrap();
            drop(small);
            tx.send(used()).unwrap();
            // One allocation far past the budget: the thread must stop here, not abort.
            let huge = vec![0u8; 1 << 30];
            tx.send(Some(huge.len() as isize)).unwrap();
        });
        let first = rx.recv().unwrap().unwrap();
        assert!(first >= 1 << 20, "{first}");
        let second = rx.recv().unwrap().unwrap();
        assert!(second < first, "{second} {first}");
        assert!(wait_for(|| b.memory_exceeded()));
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "the thread went on");
        assert!(!b.stack_exhausted());
        let before = abandoned_bytes();
        b.abandon();
        b.abandon();
        assert_eq!(abandoned_bytes(), before + (64 << 20) + (1 << 20));
        // The parked thread keeps its handle: dropping ours frees nothing.
        drop(b);
        assert_eq!(abandoned_bytes(), before + (64 << 20) + (1 << 20));
    }

    #[test]
    fn an_abandoned_thread_that_ends_gives_its_share_back() {
        let _serial = serial();
        let before = abandoned_bytes();
        let b = Budget::new(8 << 20, 1 << 20).unwrap();
        let b2 = b.clone();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _e = b2.enter();
            let _ = wait.recv();
        });
        b.abandon();
        drop(b);
        assert_eq!(abandoned_bytes(), before + (9 << 20), "counted while the thread runs");
        go.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(abandoned_bytes(), before);
    }

    #[test]
    fn stops_a_thread_that_runs_off_its_stack() {
        let _serial = serial();
        fn deep(n: u64, sink: &mut [u8; 512]) -> u64 {
            let mut local = [0u8; 512];
            local[(n % 512) as usize] = sink[0].wrapping_add(1);
            std::hint::black_box(&mut local);
            if n == 0 { 0 } else { deep(n - 1, &mut local) + u64::from(local[0]) }
        }
        let b = Budget::new(16 << 20, 256 << 10).unwrap();
        let b2 = b.clone();
        let t = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let _e = b2.enter();
                let mut sink = [0u8; 512];
                deep(1 << 30, &mut sink)
            })
            .unwrap();
        assert!(wait_for(|| b.stack_exhausted()));
        assert!(!t.is_finished());
        assert!(!b.memory_exceeded());
    }

    #[test]
    fn the_process_cap_refuses_budgets_once_abandoned_ones_fill_it() {
        let _serial = serial();
        // Other tests abandon budgets too; measure from what is abandoned now.
        let base = abandoned_bytes();
        set_process_cap(base + (100 << 20));
        let a = Budget::new(60 << 20, 10 << 20).unwrap();
        a.abandon();
        let e = Budget::new(60 << 20, 10 << 20).err().unwrap();
        assert_eq!(e.room, (100 << 20) - (70 << 20));
        assert!(Budget::new(20 << 20, 10 << 20).is_ok());
        drop(a);
        assert!(Budget::new(60 << 20, 10 << 20).is_ok(), "no thread holds the abandoned budget any more");
        set_process_cap(usize::MAX);
    }

    #[test]
    fn suspended_allocations_are_not_counted() {
        let _serial = serial();
        let b = Budget::new(1 << 30, 0).unwrap();
        let _e = b.enter();
        let before = used().unwrap();
        let s = suspend();
        let v = vec![0u8; 8 << 20];
        drop(s);
        assert!(used().unwrap() - before < 1 << 20);
        drop(v);
    }
}
