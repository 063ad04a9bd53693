//! Linux system calls: shm files, futexes, open-file-description locks.
//!
//! Every `unsafe` call into the OS in the crate lives in this file. The rest of
//! the crate sees safe functions that return `io::Result`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
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

/// `futex_waitv` (Linux 5.16): blocks until one of `words` no longer holds
/// its expected value or is woken, for at most `timeout`. Returns `false`
/// only if the kernel does not have the call (the caller then sleeps the
/// timeout some other way); woken, timed out, interrupted or a value that
/// already differs are all `true` ("re-check").
///
/// The futexes are process-shared 32-bit words. At most 128 words.
#[cfg_attr(loom, allow(dead_code))]
pub fn futex_waitv(words: &[(&AtomicU32, u32)], timeout: Option<Duration>) -> bool {
    use std::sync::atomic::AtomicU8;
    /// `struct futex_waitv` of the kernel ABI.
    #[repr(C)]
    struct Waitv {
        val: u64,
        uaddr: u64,
        flags: u32,
        reserved: u32,
    }
    const SYS_FUTEX_WAITV: libc::c_long = 449;
    const FUTEX2_SIZE_U32: u32 = 2;
    /// 0: not known yet; 1: the kernel has it; 2: it does not.
    static HAVE: AtomicU8 = AtomicU8::new(0);
    if HAVE.load(Ordering::Relaxed) == 2 || words.is_empty() || words.len() > 128 {
        return false;
    }
    let waits: Vec<Waitv> = words
        .iter()
        .map(|(w, v)| Waitv { val: u64::from(*v), uaddr: w.as_ptr() as u64, flags: FUTEX2_SIZE_U32, reserved: 0 })
        .collect();
    // The timeout is absolute, on the clock named by the last argument.
    let ts = timeout.and_then(|d| {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes the timespec we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let nanos = u128::try_from(now.tv_nsec).ok()? + d.as_nanos();
        let secs = now.tv_sec.checked_add(libc::time_t::try_from(nanos / 1_000_000_000).ok()?)?;
        Some(libc::timespec { tv_sec: secs, tv_nsec: (nanos % 1_000_000_000) as libc::c_long })
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `waits` is a live array of `len` kernel `futex_waitv`
    // records naming valid, aligned 32-bit words that outlive the call;
    // `ts_ptr` is null or a live timespec. The kernel only reads them.
    let ret = unsafe {
        libc::syscall(SYS_FUTEX_WAITV, waits.as_ptr(), waits.len() as libc::c_uint, 0u32, ts_ptr, libc::CLOCK_MONOTONIC)
    };
    if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        HAVE.store(2, Ordering::Relaxed);
        return false;
    }
    HAVE.store(1, Ordering::Relaxed);
    true
}

/// A new non-blocking, close-on-exec eventfd with a count of 0.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new
    // descriptor that we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just created, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's count: it becomes readable.
pub fn eventfd_signal(fd: BorrowedFd<'_>) {
    let one: u64 = 1;
    // SAFETY: writes the 8 bytes of `one` to a descriptor we borrow. A full
    // count (EAGAIN) is readable already.
    unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
}

/// Reads an eventfd's count down to 0; whether it was signalled.
pub fn eventfd_drain(fd: BorrowedFd<'_>) -> bool {
    let mut count: u64 = 0;
    // SAFETY: reads 8 bytes into `count` from a descriptor we borrow; a
    // zero count gives EAGAIN (non-blocking).
    let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut count).cast(), 8) };
    n == 8 && count > 0
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

/// Replaces the open file description behind descriptor `fd` by a fresh
/// one of the same file, keeping the descriptor number and close-on-exec:
/// opens `/proc/self/fd/FD` (a new description, holding no lock), checks it
/// is the same file, and `dup3`s it over `fd`. The old description, and the
/// OFD locks on it, stay with whoever else holds it (a parent after
/// `fork`). `false`, changing nothing, if it could not be done.
///
/// Async-signal-safe (open, fstat, dup3, close; no allocation): callable in
/// a `fork` child handler.
pub fn reopen_fresh(fd: libc::c_int) -> bool {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    if fd < 0 {
        return false;
    }
    let mut path = [0u8; 32];
    path[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let (mut n, mut len) = (fd as u32, 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (dst, &d) in path[PREFIX.len()..].iter_mut().zip(digits[..len].iter().rev()) {
        *dst = d;
    }
    // `path` stays NUL-terminated: 14 + 10 digits < 32.
    // SAFETY: `path` is a NUL-terminated string on our stack.
    let fresh = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fresh < 0 {
        return false;
    }
    let same = file_id_raw(fd).is_some() && file_id_raw(fd) == file_id_raw(fresh);
    // SAFETY: both are descriptors of this process; dup3 atomically makes
    // `fd` refer to the fresh description (closing its old reference).
    let replaced = same && unsafe { libc::dup3(fresh, fd, libc::O_CLOEXEC) } == fd;
    // SAFETY: `fresh` was opened above and is owned by nobody else.
    unsafe { libc::close(fresh) };
    replaced
}

/// Device and inode of an open descriptor (async-signal-safe).
fn file_id_raw(fd: libc::c_int) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable memory of the right size, filled on success.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so `st` is initialized.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
}

/// Registers `child` to run in the child process after every `fork()`
/// (`pthread_atfork`). The handler must be async-signal-safe.
pub fn at_fork_child(child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: registers a function pointer that lives for the whole program.
    match unsafe { libc::pthread_atfork(None, None, Some(child as unsafe extern "C" fn())) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

/// Bytes that unprivileged processes may still allocate on the filesystem
/// that holds `path` (`statvfs`: `f_bavail * f_frsize`).
pub fn fs_available(path: &CStr) -> io::Result<u64> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated; `st` is writable memory of the right
    // size, filled by the kernel on success.
    cvt(unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: statvfs succeeded, so `st` is initialized.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `MemAvailable` of `/proc/meminfo` in bytes: the kernel's estimate of
/// the memory that can be given out without swapping. `None` if unknown.
pub fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Renames `old` to `new`, failing with `EEXIST` if `new` exists
/// (`renameat2` with `RENAME_NOREPLACE`).
pub fn rename_noreplace(old: &CStr, new: &CStr) -> io::Result<()> {
    // SAFETY: both paths are valid NUL-terminated strings.
    cvt(unsafe { libc::renameat2(libc::AT_FDCWD, old.as_ptr(), libc::AT_FDCWD, new.as_ptr(), libc::RENAME_NOREPLACE) })
        .map(drop)
}

/// Reads the native-endian u32 at `offset` of an open file (`pread`).
pub fn read_u32_at(fd: BorrowedFd<'_>, offset: u64) -> io::Result<u32> {
    let mut buf = [0u8; 4];
    // SAFETY: `buf` is 4 writable bytes.
    let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 4, offset as libc::off_t) };
    match n {
        4 => Ok(u32::from_ne_bytes(buf)),
        -1 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
    }
}

/// The SIGBUS disposition found when [`install_sigbus_hook`] installed its
/// handler: where a SIGBUS that is not ours goes.
static SIGBUS_PREVIOUS: std::sync::OnceLock<libc::sigaction> = std::sync::OnceLock::new();
/// What the SIGBUS handler calls with the fault address.
static SIGBUS_HOOK: std::sync::OnceLock<fn(usize)> = std::sync::OnceLock::new();

/// The SIGBUS handler: calls the hook with the fault address (the hook
/// aborts if the address is its own), then hands the signal to the
/// previous disposition.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let addr = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO
        // handler; for SIGBUS, si_addr is the fault address.
        unsafe { (*info).si_addr() as usize }
    };
    if let Some(hook) = SIGBUS_HOOK.get() {
        hook(addr);
    }
    let Some(prev) = SIGBUS_PREVIOUS.get() else { return default_and_return(sig) };
    let handler = prev.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // A fault cannot be ignored: with the default back, returning runs
        // the faulting access again, and the kernel ends the process.
        return default_and_return(sig);
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous handler was installed as a
        // three-argument handler; it receives what we received.
        let f = unsafe {
            std::mem::transmute::<libc::sighandler_t, extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)>(
                handler,
            )
        };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO it was installed as a one-argument
        // handler.
        let f = unsafe { std::mem::transmute::<libc::sighandler_t, extern "C" fn(libc::c_int)>(handler) };
        f(sig);
    }
}

/// Restores the default disposition of `sig` (async-signal-safe).
fn default_and_return(sig: libc::c_int) {
    // SAFETY: sigaction is plain data for which all-zero is a valid value
    // (SIG_DFL, no flags, empty mask).
    let sa: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `sa` is a valid sigaction that outlives the call.
    unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
}

/// Installs (once per process) a SIGBUS handler that calls `hook` with the
/// fault address, then passes the signal on to the handler that was
/// installed before (or to the default action, which ends the process).
/// `hook` runs in a signal handler: it must be async-signal-safe.
/// `Ok(false)` if a hook was installed already.
pub fn install_sigbus_hook(hook: fn(usize)) -> io::Result<bool> {
    if SIGBUS_HOOK.set(hook).is_err() {
        return Ok(false);
    }
    // SAFETY: sigaction is plain data for which all-zero is a valid value.
    let mut prev: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null action only reads the current disposition into `prev`.
    cvt(unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut prev) })?;
    let _ = SIGBUS_PREVIOUS.set(prev);
    // SAFETY: as above.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction =
        on_sigbus as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as libc::sighandler_t;
    // SA_ONSTACK: a fault on a thread with an alternate stack (Rust's
    // main thread has one for stack overflows) runs there.
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `sa.sa_mask` is a valid sigset_t to initialize.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: installs a handler whose work is async-signal-safe.
    cvt(unsafe { libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()) })?;
    Ok(true)
}

/// Writes `bytes` to the standard error descriptor with `write(2)` only
/// (async-signal-safe), ignoring errors.
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable buffer of its length.
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Ends the process with SIGABRT (async-signal-safe).
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
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
