//! Linux system calls: shm files, futexes, open-file-description locks.
//!
//! Every `unsafe` call into the OS in the crate lives in this file. The rest of
//! the crate sees safe functions that return `io::Result`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Directory that holds the segment files (a tmpfs on Linux).
pub const SHM_DIR: &str = "/dev/shm";

/// What `fstat` says of a segment file, reduced to what the opener checks.
#[derive(Debug, Clone, Copy)]
pub struct FileStat {
    /// A regular file (not a FIFO, socket, device or directory).
    pub is_regular: bool,
    /// Owner uid.
    pub uid: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Device and inode: which file this is.
    pub id: (u64, u64),
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Retries a call that failed with `EINTR`.
fn retry_eintr(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Creates `path` exclusively, read-write, never following a symlink, and
/// sets its mode to exactly `mode` with `fchmod` (the umask does not apply).
pub fn create_exclusive(path: &CStr, mode: u32) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `path` is a valid NUL-terminated string; open has no other
    // memory-safety requirement.
    let fd = retry_eintr(|| unsafe { libc::open(path.as_ptr(), flags, 0o600 as libc::c_uint) })?;
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `fd` is an open descriptor for the lifetime of this call.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(fd)
}

/// Opens an existing `path` read-write without following a symlink.
///
/// `O_NONBLOCK` keeps a FIFO planted under the name from blocking the open;
/// the caller rejects anything that is not a regular file with [`fstat`].
pub fn open_existing(path: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: `path` is a valid NUL-terminated string.
    let fd = retry_eintr(|| unsafe { libc::open(path.as_ptr(), flags) })?;
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat` of an open descriptor.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` points to writable memory of the right size; the kernel
    // fills it entirely when the call succeeds.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so `st` is initialized.
    let st = unsafe { st.assume_init() };
    Ok(FileStat {
        is_regular: st.st_mode & libc::S_IFMT == libc::S_IFREG,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        size: st.st_size as u64,
        id: (st.st_dev, st.st_ino),
    })
}

/// Device and inode of the file at `path`, not following a symlink.
pub fn lstat_id(path: &CStr) -> io::Result<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is NUL-terminated and `st` is writable memory of the
    // right size, filled by the kernel when the call succeeds.
    cvt(unsafe { libc::lstat(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: lstat succeeded, so `st` is initialized.
    let st = unsafe { st.assume_init() };
    Ok((st.st_dev, st.st_ino))
}

/// Reserves `len` bytes of backing store so that a full tmpfs fails here
/// instead of with `SIGBUS` on first touch.
pub fn allocate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    loop {
        // SAFETY: plain syscall on an open descriptor.
        let ret = unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len) };
        match ret {
            0 => return Ok(()),
            libc::EINTR => continue,
            err => return Err(io::Error::from_raw_os_error(err)),
        }
    }
}

/// Gives the file at `old` the second name `new`; fails with `EEXIST` if
/// `new` exists in any form (file, symlink, FIFO), which makes it an
/// exclusive publish.
pub fn link(old: &CStr, new: &CStr) -> io::Result<()> {
    // SAFETY: both paths are valid NUL-terminated strings.
    cvt(unsafe { libc::link(old.as_ptr(), new.as_ptr()) }).map(drop)
}

/// Removes `path`.
pub fn unlink(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string.
    cvt(unsafe { libc::unlink(path.as_ptr()) }).map(drop)
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// How many CPUs the processes of this machine (or container) can run on
/// at once: the online CPUs, capped by a cgroup v2 CPU quota. This
/// process's own affinity is ignored on purpose: a process pinned to one CPU
/// still has peers running on the others, and whether spinning for them
/// pays off depends on the machine, not on our mask.
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

/// Blocks while `*word == expected`, for at most `timeout` (forever if
/// `None`). Returns when woken, on timeout, on a signal, or at once if the
/// word already differs; callers re-check their condition in every case.
///
/// The futex is process-shared (no `FUTEX_PRIVATE_FLAG`): `word` lives in a
/// shared mapping and the waker may be another process.
#[cfg_attr(loom, allow(dead_code))]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit atomic for the duration of the
    // call; `ts_ptr` is null or points to a live timespec. The kernel only
    // reads both. Errors (EAGAIN, ETIMEDOUT, EINTR) all mean "re-check".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes up to `count` waiters blocked on `word` in any process. Returns how
/// many were woken.
#[cfg_attr(loom, allow(dead_code))]
pub fn futex_wake(word: &AtomicU32, count: u32) -> usize {
    let count = count.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE only uses
    // its address as a key and never dereferences it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    ret.max(0) as usize
}

fn flock_at(kind: libc::c_int, offset: u64) -> libc::flock {
    // SAFETY: flock is plain data for which all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = offset as libc::off_t;
    fl.l_len = 1;
    fl.l_pid = 0; // required to be 0 for OFD locks
    fl
}

/// Tries to take an exclusive open-file-description lock on the byte at
/// `offset`. `Ok(false)` if another open file description holds it.
///
/// OFD locks belong to the open file description, not to the process: they
/// vanish when the last descriptor to it is closed, including when the
/// process dies, and they never go to a process that reuses the PID.
pub fn ofd_try_lock(fd: BorrowedFd<'_>, offset: u64) -> io::Result<bool> {
    let fl = flock_at(libc::F_WRLCK, offset);
    // SAFETY: `fl` is a valid flock that outlives the call.
    match retry_eintr(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) }) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases the open-file-description lock on the byte at `offset`.
#[cfg_attr(not(test), allow(dead_code))]
pub fn ofd_unlock(fd: BorrowedFd<'_>, offset: u64) -> io::Result<()> {
    let fl = flock_at(libc::F_UNLCK, offset);
    // SAFETY: `fl` is a valid flock that outlives the call.
    retry_eintr(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) }).map(drop)
}

/// Whether some *other* open file description holds a lock on the byte at
/// `offset`. Locks held through `fd`'s own description are not reported.
pub fn ofd_is_locked(fd: BorrowedFd<'_>, offset: u64) -> io::Result<bool> {
    let mut fl = flock_at(libc::F_WRLCK, offset);
    // SAFETY: `fl` is a valid flock the kernel may overwrite.
    retry_eintr(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) })?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

// ---------------------------------------------------------------------
// Calls used by the benchmark harness (`crate::bench`): CPU pinning, polls
// on descriptors, eventfds, pipes, spawning a peer with descriptors, signal
// flags, and the libc primitives it compares against.
// ---------------------------------------------------------------------

/// The CPUs this thread may run on, in increasing order.
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
pub fn eventfd(initial: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the descriptor returned is owned by nobody else.
    let fd = cvt(unsafe { libc::eventfd(initial, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new pipe `(read end, write end)`, both non-blocking and close-on-exec.
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain fcntl calls on an open descriptor.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

#[cfg_attr(loom, allow(dead_code))]
/// First descriptor number that [`spawn_with_fds`] hands to the child.
pub const FIRST_PASSED_FD: i32 = 3;

/// Spawns `cmd` with `fds` as descriptors 3, 4, … of the child, which is
/// killed (`SIGKILL`) when the spawning thread exits or dies.
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
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

#[cfg_attr(loom, allow(dead_code))]
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg_attr(loom, allow(dead_code))]
extern "C" fn on_interrupt(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set a flag ([`interrupted`]) instead of ending
/// the process. Without `SA_RESTART`, so a blocking call returns `EINTR`.
#[cfg_attr(loom, allow(dead_code))]
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

#[cfg_attr(loom, allow(dead_code))]
/// Whether SIGINT or SIGTERM arrived since [`catch_interrupts`] (or
/// [`set_interrupted`] was called).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg_attr(loom, allow(dead_code))]
/// Sets or clears the flag that [`interrupted`] reads.
pub fn set_interrupted(on: bool) {
    INTERRUPTED.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Initializes a process-shared, robust `pthread_mutex_t` at `m`.
///
/// # Safety
/// `m` must point to writable memory for a `pthread_mutex_t`, not in use.
#[cfg_attr(loom, allow(dead_code))]
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
#[cfg_attr(loom, allow(dead_code))]
#[inline]
pub unsafe fn pthread_mutex_lock_unlock(m: *mut libc::pthread_mutex_t) -> bool {
    // SAFETY: the caller guarantees `m` is an initialized mutex.
    unsafe { libc::pthread_mutex_lock(m) == 0 && libc::pthread_mutex_unlock(m) == 0 }
}

/// Initializes a process-shared POSIX semaphore at `s` with `value`.
///
/// # Safety
/// `s` must point to writable memory for a `sem_t`, not in use.
#[cfg_attr(loom, allow(dead_code))]
pub unsafe fn sem_init_shared(s: *mut libc::sem_t, value: u32) -> io::Result<()> {
    // SAFETY: the caller guarantees `s` is writable and unused.
    cvt(unsafe { libc::sem_init(s, 1, value) }).map(drop)
}

/// `sem_wait` then `sem_post` on the semaphore at `s`; `false` on failure.
///
/// # Safety
/// `s` must point to a semaphore set up by [`sem_init_shared`] whose value
/// is at least 1 (else the wait blocks).
#[cfg_attr(loom, allow(dead_code))]
#[inline]
pub unsafe fn sem_wait_post(s: *mut libc::sem_t) -> bool {
    // SAFETY: the caller guarantees `s` is an initialized semaphore.
    unsafe { libc::sem_wait(s) == 0 && libc::sem_post(s) == 0 }
}

/// `sem_post` on the semaphore at `s`.
///
/// # Safety
/// `s` must point to a semaphore set up by [`sem_init_shared`].
#[cfg_attr(loom, allow(dead_code))]
#[inline]
pub unsafe fn sem_post(s: *mut libc::sem_t) -> io::Result<()> {
    // SAFETY: the caller guarantees `s` is an initialized semaphore.
    cvt(unsafe { libc::sem_post(s) }).map(drop)
}

/// `sem_timedwait` for at most `timeout`; `Ok(false)` on timeout or signal.
///
/// # Safety
/// `s` must point to a semaphore set up by [`sem_init_shared`].
#[cfg_attr(loom, allow(dead_code))]
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
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        if pgid > 0 {
            // SAFETY: kill has no memory-safety requirements; a negative pid
            // names the process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// `membarrier` commands (linux/membarrier.h).
const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

fn membarrier(cmd: libc::c_int) -> libc::c_long {
    // SAFETY: membarrier takes two integers and touches no user memory.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_int) }
}

/// Registers this process for global expedited memory barriers: from now on
/// a [`membarrier_global`] in any process makes every CPU running one of our
/// threads execute a full memory barrier. `false` if the kernel (or a
/// seccomp filter) does not allow it.
pub fn membarrier_register() -> bool {
    let supported = membarrier(MEMBARRIER_CMD_QUERY);
    supported >= 0
        && supported & libc::c_long::from(MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0
        && membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0
}

/// Makes every CPU that runs a thread of a registered process execute a
/// full memory barrier before returning. `false` if it failed.
pub fn membarrier_global() -> bool {
    membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn ofd_locks_conflict_between_descriptions_only() {
        let path = format!("{SHM_DIR}/shmkit-unit-ofd-{}", std::process::id());
        let cpath = std::ffi::CString::new(path).unwrap();
        let a = create_exclusive(&cpath, 0o600).unwrap();
        let b = open_existing(&cpath).unwrap();
        unlink(&cpath).unwrap();
        assert!(ofd_try_lock(a.as_fd(), 1 << 40).unwrap());
        assert!(!ofd_is_locked(a.as_fd(), 1 << 40).unwrap(), "own lock is not a conflict");
        assert!(ofd_is_locked(b.as_fd(), 1 << 40).unwrap());
        assert!(!ofd_try_lock(b.as_fd(), 1 << 40).unwrap());
        ofd_unlock(a.as_fd(), 1 << 40).unwrap();
        assert!(!ofd_is_locked(b.as_fd(), 1 << 40).unwrap());
        assert!(ofd_try_lock(b.as_fd(), 1 << 40).unwrap());
        drop(b);
        assert!(ofd_try_lock(a.as_fd(), 1 << 40).unwrap(), "closing releases");
    }

    #[test]
    fn created_file_has_exact_mode_despite_umask() {
        let path = format!("{SHM_DIR}/shmkit-unit-mode-{}", std::process::id());
        let cpath = std::ffi::CString::new(path).unwrap();
        let fd = create_exclusive(&cpath, 0o600).unwrap();
        unlink(&cpath).unwrap();
        let st = fstat(fd.as_fd()).unwrap();
        assert!(st.is_regular);
        assert_eq!(st.mode, 0o600);
        assert_eq!(st.uid, euid());
    }
}
