//! The process's malloc settings, applied once at start, before any thread.
//!
//! glibc gives each thread that allocates under contention an arena of its own (up
//! to eight per core). Freed memory stays in the arena that freed it, so with the
//! runtime's worker threads each holding a few MiB of freed blocks the worker's
//! resident set grows by an arena's worth per thread (docs/benchmarks.md, "memory").
//! One arena serves a worker of two runtime threads well: it spends most of its time
//! waiting on the network, and the lock is uncontended most of the time.

/// Arenas glibc may create (its default is eight per core).
pub const ARENAS: i32 = 1;

/// Limits glibc to [`ARENAS`] arenas unless `MALLOC_ARENA_MAX` says otherwise (the
/// operator's choice wins). Call it first in `main`, before the runtime starts threads.
pub fn configure() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    limit_arenas(ARENAS);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_arenas(arenas: i32) {
    // SAFETY: mallopt only changes allocator parameters; it is called before any
    // other thread exists, and M_ARENA_MAX takes any positive count.
    let applied = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    if applied != 1 {
        eprintln!("id2meta: could not limit malloc arenas (mallopt returned {applied})");
    }
}

/// Other allocators (musl, macOS) have no per-thread arenas to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_arenas(_arenas: i32) {}
