//! The system calls of the benchmark harness (Linux): CPU pinning, polls on
//! descriptors, eventfds, pipes, spawning a peer with descriptors, signal
//! flags, and the libc primitives it compares against.
//!
//! Every `unsafe` call into the OS in this crate lives in this file (the
//! library has its own for segments, futexes and locks). The rest of the
//! crate sees safe functions that return `io::Result`, and a few `unsafe fn`s
//! over raw libc objects, each with its contract.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Directory that holds the segment files.
pub use shmkit::inspect::SHM_DIR;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// How many CPUs the processes of this machine (or container) can run on
/// at once: the online CPUs, capped by a cgroup v2 CPU quota (as the
/// library counts them to decide whether spinning pays off). This process's
/// own affinity is ignored on purpose.
pub fn cpu_count() -> usize {
    // SAFETY: sysconf has no memory-safety requirements.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let online = if online > 0 { online as usize } else { 1 };
    online.min(cgroup_cpu_quota().unwrap_or(usize::MAX)).max(1)
}

/// The CPU quota of this process's cgroup (v2 `cpu.max`), rounded up.
fn cgroup_cpu_quota() -> Option<usize> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{}/cpu.max", path.trim_end())).ok()?;
    let mut fields = max.split_whitespace();
    let quota: u64 = fields.next()?.parse().ok()?; // "max" fails: no quota
    let period: u64 = fields.next()?.parse().ok()?;
    (period > 0).then(|| quota.div_ceil(period).max(1) as usize)
}

/// The CPUs this thread may run on, in increasing order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data for which all-zero is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads `set`, and every index is below its size.
    Ok((0..max).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect())
}

/// Pins the calling thread to `cpu` (`sched_setaffinity`).
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu_set_t is plain data for which all-zero is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the set's size (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is this thread.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) }).map(drop)
}

/// Waits until `fd` is ready for `events` (`libc::POLLIN`/`POLLOUT`), at
/// most `timeout`. `Ok(true)` if ready (or hung up / in error: the next
/// read or write tells which), `Ok(false)` on timeout or a signal.
pub fn poll_one(fd: BorrowedFd<'_>, events: i16, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfd` is one valid pollfd that outlives the call.
    match cvt(unsafe { libc::poll(&mut pfd, 1, ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// A new eventfd with counter `initial`, non-blocking, close-on-exec.
pub fn eventfd(initial: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the descriptor returned is owned by nobody else.
    let fd = cvt(unsafe { libc::eventfd(initial, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new pipe `(read end, write end)`, both non-blocking and close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just returned by pipe2 and are owned by
    // nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes `fd` non-blocking (a flag of the open file description, so shared
/// with every process that holds it).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain fcntl calls on an open descriptor.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// First descriptor number that [`spawn_with_fds`] hands to the child.
pub const FIRST_PASSED_FD: i32 = 3;

/// Spawns `cmd` with `fds` as descriptors 3, 4, … of the child, which is
/// killed (`SIGKILL`) when the spawning thread exits or dies.
pub fn spawn_with_fds(cmd: &mut std::process::Command, fds: &[OwnedFd]) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    if fds.len() > 64 {
        return Err(io::Error::from_raw_os_error(libc::EMFILE));
    }
    let raw: Vec<libc::c_int> = fds.iter().map(|f| f.as_raw_fd()).collect();
    // Runs in the child between fork and exec: only async-signal-safe calls.
    let setup = move || -> io::Result<()> {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number only.
        cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) })?;
        // Move every source out of the target range first, so a source that
        // is itself a target number is not overwritten before it is copied.
        let high = FIRST_PASSED_FD + raw.len() as libc::c_int + 64;
        let mut moved = [0 as libc::c_int; 64];
        for (i, &fd) in raw.iter().enumerate().take(64) {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor this process holds.
            moved[i] = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high) })?;
        }
        for (i, &fd) in moved.iter().enumerate().take(raw.len().min(64)) {
            // SAFETY: dup2 onto a small descriptor number; the new descriptor
            // has close-on-exec cleared, so the peer inherits it.
            cvt(unsafe { libc::dup2(fd, FIRST_PASSED_FD + i as libc::c_int) })?;
        }
        Ok(())
    };
    // SAFETY: the closure only calls prctl, fcntl and dup2, which are
    // async-signal-safe, and allocates nothing.
    unsafe { cmd.pre_exec(setup) };
    cmd.spawn()
}

/// Takes ownership of descriptor `FIRST_PASSED_FD + i`, handed down by
/// [`spawn_with_fds`]. Call it once per descriptor, at start-up, before
/// anything else could open a descriptor with that number.
///
/// # Errors
/// `EBADF` if no such descriptor is open (it was not passed).
pub fn passed_fd(i: usize) -> io::Result<OwnedFd> {
    let fd = FIRST_PASSED_FD + i.min(1 << 20) as libc::c_int;
    // SAFETY: F_GETFD only reads the descriptor's flags.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: the descriptor is open (checked above); at start-up of a peer
    // the numbers from FIRST_PASSED_FD on are the ones spawn_with_fds
    // placed there, and each is taken once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the child `pid` has exited, without reaping it (so that its
/// `std::process::Child` still can).
pub fn child_exited(pid: u32) -> bool {
    // SAFETY: siginfo_t is plain data for which all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a writable siginfo_t; waitid only fills it.
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    // SAFETY: si_pid is valid to read for a SIGCHLD siginfo, and zero when
    // nothing has changed state (WNOHANG).
    r == -1 || unsafe { info.si_pid() } != 0
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set a flag ([`interrupted`]) instead of ending
/// the process. Without `SA_RESTART`, so a blocking call returns `EINTR`.
pub fn catch_interrupts() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is plain data for which all-zero is a valid value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = 0;
        // SAFETY: `sa.sa_mask` is a valid sigset_t to initialize.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: installs a handler that only stores to an atomic.
        cvt(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) })?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`catch_interrupts`] (or
/// [`set_interrupted`] was called).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets or clears the flag that [`interrupted`] reads.
pub fn set_interrupted(on: bool) {
    INTERRUPTED.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Initializes a process-shared, robust `pthread_mutex_t` at `m`.
///
/// # Safety
/// `m` must point to writable memory for a `pthread_mutex_t`, not in use.
pub unsafe fn pthread_mutex_init_shared(m: *mut libc::pthread_mutex_t) -> io::Result<()> {
    // SAFETY: pthread_mutexattr_t is plain data, initialized by the call below.
    let mut attr: libc::pthread_mutexattr_t = unsafe { std::mem::zeroed() };
    let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(r)) };
    // SAFETY: `attr` is writable; the attribute calls only touch it.
    unsafe {
        check(libc::pthread_mutexattr_init(&mut attr))?;
        check(libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED))?;
        check(libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST))?;
    }
    // SAFETY: the caller guarantees `m` is writable and unused.
    let r = unsafe { libc::pthread_mutex_init(m, &attr) };
    // SAFETY: `attr` was initialized above.
    unsafe { libc::pthread_mutexattr_destroy(&mut attr) };
    check(r)
}

/// Locks then unlocks the mutex at `m`; `false` if either call failed.
///
/// # Safety
/// `m` must point to a mutex set up by [`pthread_mutex_init_shared`].
#[inline]
pub unsafe fn pthread_mutex_lock_unlock(m: *mut libc::pthread_mutex_t) -> bool {
    // SAFETY: the caller guarantees `m` is an initialized mutex.
    unsafe { libc::pthread_mutex_lock(m) == 0 && libc::pthread_mutex_unlock(m) == 0 }
}

/// Initializes a process-shared POSIX semaphore at `s` with `value`.
///
/// # Safety
/// `s` must point to writable memory for a `sem_t`, not in use.
pub unsafe fn sem_init_shared(s: *mut libc::sem_t, value: u32) -> io::Result<()> {
    // SAFETY: the caller guarantees `s` is writable and unused.
    cvt(unsafe { libc::sem_init(s, 1, value) }).map(drop)
}

/// `sem_wait` then `sem_post` on the semaphore at `s`; `false` on failure.
///
/// # Safety
/// `s` must point to a semaphore set up by [`sem_init_shared`] whose value
/// is at least 1 (else the wait blocks).
#[inline]
pub unsafe fn sem_wait_post(s: *mut libc::sem_t) -> bool {
    // SAFETY: the caller guarantees `s` is an initialized semaphore.
    unsafe { libc::sem_wait(s) == 0 && libc::sem_post(s) == 0 }
}

/// `sem_post` on the semaphore at `s`.
///
/// # Safety
/// `s` must point to a semaphore set up by [`sem_init_shared`].
#[inline]
pub unsafe fn sem_post(s: *mut libc::sem_t) -> io::Result<()> {
    // SAFETY: the caller guarantees `s` is an initialized semaphore.
    cvt(unsafe { libc::sem_post(s) }).map(drop)
}

/// `sem_timedwait` for at most `timeout`; `Ok(false)` on timeout or signal.
///
/// # Safety
/// `s` must point to a semaphore set up by [`sem_init_shared`].
pub unsafe fn sem_wait_for(s: *mut libc::sem_t, timeout: Duration) -> io::Result<bool> {
    // SAFETY: the caller guarantees `s` is an initialized semaphore; a
    // successful trywait is a completed wait.
    if unsafe { libc::sem_trywait(s) } == 0 {
        return Ok(true);
    }
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a writable timespec.
    cvt(unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) })?;
    let nanos = now.tv_nsec as u64 + u64::from(timeout.subsec_nanos());
    let at = libc::timespec {
        tv_sec: now.tv_sec.saturating_add((timeout.as_secs() + nanos / 1_000_000_000) as libc::time_t),
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: as above; `at` is a valid absolute time.
    match cvt(unsafe { libc::sem_timedwait(s, &at) }) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ETIMEDOUT) | Some(libc::EINTR)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// SIGKILLs every process of the process group `pgid` (a child started in a
/// group of its own, whose id is its pid).
pub fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid)
        && pgid > 0
    {
        // SAFETY: kill has no memory-safety requirements; a negative pid
        // names the process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}
