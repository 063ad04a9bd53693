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
