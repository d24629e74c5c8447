//! A minimal persistent thread pool for `forward_parallel`: workers spin briefly between the
//! steps of a forward pass (a step is one parallel region over row bands, or two over channel
//! ranges for the late blocks split by channels), then park.
//! Without `std` there are no threads: `Threads` is an empty enum, so the parallel entry points
//! always take their one-thread path. Also what the f32 and int8 parallel entry points share:
//! `share` (a thread's rows), `run_parts` (a job on every thread) and `SharedPtr`.

#[cfg(feature = "std")]
pub use pool::Threads;

/// No threads without `std`: a type with no values, so `Option<&mut Threads>` is always `None`.
#[cfg(not(feature = "std"))]
#[derive(Debug)]
pub enum Threads {}

#[cfg(not(feature = "std"))]
impl Threads {
    pub fn count(&self) -> usize {
        match *self {}
    }

    pub fn run(&mut self, _job: &(dyn Fn(usize) + Sync)) {
        match *self {}
    }
}

#[cfg(feature = "std")]
mod pool {
    use std::cell::UnsafeCell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;

    /// How long an idle worker spins before parking (spin-loop iterations).
    const SPIN: u32 = 1 << 16;

    type Job = dyn Fn(usize) + Sync;

    struct Shared {
        /// The current job, valid while `pending > 0` for the epoch that published it.
        job: UnsafeCell<*const Job>,
        epoch: AtomicU64,
        pending: AtomicUsize,
        panicked: AtomicBool,
        shutdown: AtomicBool,
    }

    // SAFETY: `job` is written only by the owner in `run` while no worker reads it (before the
    // epoch is published and after every worker has reported done); workers read it only between
    // seeing a new epoch and decrementing `pending`.
    unsafe impl Sync for Shared {}
    // SAFETY: as above; the raw pointer is only a borrowed job shared under that protocol.
    unsafe impl Send for Shared {}

    /// Threads that `forward_parallel` splits work across: the caller plus `count() - 1` workers.
    pub struct Threads {
        shared: Arc<Shared>,
        workers: Vec<JoinHandle<()>>,
    }

    impl Threads {
        /// A pool of `n` threads in all (the calling thread counts as one; `n` of 0 means 1).
        pub fn new(n: usize) -> Threads {
            let shared = Arc::new(Shared {
                job: UnsafeCell::new(std::ptr::null::<fn(usize)>() as *const Job),
                epoch: AtomicU64::new(0),
                pending: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
                shutdown: AtomicBool::new(false),
            });
            let workers = (1..n.max(1))
                .map(|index| {
                    let shared = Arc::clone(&shared);
                    std::thread::Builder::new()
                        .name(format!("mobilenet-{index}"))
                        .spawn(move || worker(&shared, index))
                        .expect("spawn a worker thread")
                })
                .collect();
            Threads { shared, workers }
        }

        /// Threads in all, the caller included.
        pub fn count(&self) -> usize {
            self.workers.len() + 1
        }

        /// Run `job(i)` for every `i` in `0..count()`, `0` on the calling thread; return when all
        /// are done.
        pub fn run(&mut self, job: &(dyn Fn(usize) + Sync)) {
            if self.workers.is_empty() {
                job(0);
                return;
            }
            let s = &*self.shared;
            // SAFETY: no worker reads `job` now (the previous run waited for all of them), and the
            // pointer stays valid until every worker has decremented `pending` below, before this
            // function returns; `&mut self` rules out a concurrent `run`.
            unsafe {
                let ptr: *const (dyn Fn(usize) + Sync + '_) = job;
                *s.job.get() = std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const Job>(ptr);
            }
            s.pending.store(self.workers.len(), Ordering::Relaxed);
            s.epoch.fetch_add(1, Ordering::Release);
            for w in &self.workers {
                w.thread().unpark();
            }
            let mine = catch_unwind(AssertUnwindSafe(|| job(0)));
            while s.pending.load(Ordering::Acquire) != 0 {
                std::hint::spin_loop();
            }
            if let Err(p) = mine {
                std::panic::resume_unwind(p);
            }
            assert!(!s.panicked.swap(false, Ordering::Relaxed), "a mobilenet worker thread panicked");
        }
    }

    fn worker(s: &Shared, index: usize) {
        let mut seen = 0u64;
        loop {
            let mut spins = 0u32;
            let epoch = loop {
                let e = s.epoch.load(Ordering::Acquire);
                if e != seen || s.shutdown.load(Ordering::Acquire) {
                    break e;
                }
                if spins < SPIN {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::park();
                }
            };
            if s.shutdown.load(Ordering::Acquire) {
                return;
            }
            seen = epoch;
            // SAFETY: a new epoch was published with a job that stays valid until `pending`
            // reaches 0, which cannot happen before this worker decrements it.
            let job = unsafe { &**s.job.get() };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job(index))) {
                s.panicked.store(true, Ordering::Relaxed);
                // Leaked, not dropped: a payload whose `Drop` panics would unwind this worker
                // past the decrement below, and `run` would wait for it forever.
                std::mem::forget(payload);
            }
            s.pending.fetch_sub(1, Ordering::Release);
        }
    }

    impl Drop for Threads {
        fn drop(&mut self) {
            self.shared.shutdown.store(true, Ordering::Release);
            for w in &self.workers {
                w.thread().unpark();
            }
            for w in self.workers.drain(..) {
                let _ = w.join();
            }
        }
    }

    impl std::fmt::Debug for Threads {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Threads({})", self.count())
        }
    }
}

/// Rows `part` of `parts` gets out of `n`.
pub fn share(n: usize, parts: usize, part: usize) -> core::ops::Range<usize> {
    (n * part / parts)..(n * (part + 1) / parts)
}

/// Run `job(thread, threads)` on every thread of the pool, or `job(0, 1)` on this one.
pub(crate) fn run_parts(threads: Option<&mut Threads>, job: &(dyn Fn(usize, usize) + Sync)) {
    match threads.filter(|t| t.count() > 1) {
        Some(t) => {
            let n = t.count();
            t.run(&|i| job(i, n));
        }
        None => job(0, 1),
    }
}

/// A pointer threads may share: each writes a disjoint part of what it points to, or every one
/// only reads it.
pub(crate) struct SharedPtr<T = f32>(pub *mut T);

impl<T> Clone for SharedPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedPtr<T> {}

impl<T> SharedPtr<T> {
    /// The pointer. (A method, so closures capture the `Sync` wrapper, not its field.)
    pub(crate) fn get(self) -> *mut T {
        self.0
    }

    /// `len` elements from `offset`.
    ///
    /// # Safety
    /// The range lies inside the allocation and no other live reference overlaps it.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn part(&self, offset: usize, len: usize) -> &mut [T] {
        // SAFETY: forwarded contract.
        unsafe { core::slice::from_raw_parts_mut(self.0.add(offset), len) }
    }

    /// `len` elements from `offset`, to read.
    ///
    /// # Safety
    /// The range lies inside the allocation and nothing writes it while the slice lives.
    pub(crate) unsafe fn read(&self, offset: usize, len: usize) -> &[T] {
        // SAFETY: forwarded contract.
        unsafe { core::slice::from_raw_parts(self.0.add(offset), len) }
    }
}

// SAFETY: used only to hand disjoint output regions to the threads of one `Threads::run`, or
// one region that every thread only reads.
unsafe impl<T> Sync for SharedPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Send for SharedPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_once_per_run() {
        let mut t = Threads::new(3);
        for _ in 0..100 {
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            t.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
        assert_eq!(share(7, 2, 0), 0..3);
        assert_eq!(share(7, 2, 1), 3..7);
    }

    #[test]
    fn a_panicking_part_is_reported_and_the_pool_survives() {
        let mut t = Threads::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            t.run(&|i| {
                if i == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        t.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }

    /// A worker's panic whose payload panics when dropped still ends the parallel region.
    #[test]
    fn a_payload_that_panics_when_dropped_does_not_hang_the_pool() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("dropped");
            }
        }
        let mut t = Threads::new(3);
        let r = catch_unwind(AssertUnwindSafe(|| {
            t.run(&|i| {
                if i == 2 {
                    std::panic::panic_any(Bomb);
                }
            })
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        t.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 3);
    }
}
