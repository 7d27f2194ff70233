//! Process-wide allocator settings, made first thing in `main`, before any thread exists.

/// How many glibc malloc arenas the process may use, unless the environment says otherwise.
const ARENAS: i32 = 2;

/// Caps glibc malloc at [`ARENAS`] arenas unless `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` set
/// it. glibc gives a thread that meets contention an arena of its own, up to eight per core,
/// and memory freed into one arena is not reused by another, so the runtime's worker and
/// blocking threads each kept a mostly empty arena resident. Small allocations go through
/// glibc's per-thread caches first, so two arenas are rarely contended. Measured with
/// `scripts/bench scale` at 100,000 triggers, `max_running = 2048`, alternated on a quiet
/// machine: RSS 65–66 MB with glibc's default, 56–59 MB with two arenas, the same CPU per fire.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    let tuned = |name| std::env::var_os(name).is_some_and(|v| v.to_string_lossy().contains("arena_max"));
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() || tuned("GLIBC_TUNABLES") {
        return;
    }
    // SAFETY: `mallopt` sets a tunable of the allocator and touches nothing else; it runs
    // before any other thread exists, so no allocation is under way concurrently.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Other platforms and C libraries keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}
