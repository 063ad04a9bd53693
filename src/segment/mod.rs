//! Named segments: create, open, check, own and remove the file behind an
//! object, and its liveness registry.
//!
//! A segment file is laid out as
//! `[header (256 B)] [registry: one u32 generation per slot] [type description] [object state]`,
//! the object state starting at a multiple of 64 (or of its alignment).
//! `docs/FORMAT.md` is the full contract.

pub(crate) mod fork;
pub(crate) mod header;
pub(crate) mod registry;
pub(crate) mod token;
mod typed;

pub use typed::{Segment, ShmSafe};

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::Error;
use crate::name;
use crate::sys;
use header::{FLAG_PERSISTED, FLAGS_OFFSET, Fingerprint, HEADER_SIZE, Header, INIT_OFFSET, ObjectKind, READY};
use registry::Registration;
use std::sync::atomic::{AtomicU32, Ordering};
use token::Token;

/// How segments are created and opened. The defaults are the safe ones.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    mode: u32,
    allow_shared_mode: bool,
    allow_foreign_owner: bool,
    registry_slots: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: 0o600,
            allow_shared_mode: false,
            allow_foreign_owner: false,
            registry_slots: registry::DEFAULT_SLOTS,
        }
    }
}

impl OpenOptions {
    /// The safe defaults: mode 0600, owner-only files accepted, 256 liveness
    /// slots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Permission bits of a created segment (default `0o600`), set with
    /// `fchmod`, so the umask does not apply. Only the low 9 bits are used.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Accept, on open, a file that group or others may read or write.
    pub fn allow_shared_mode(mut self, yes: bool) -> Self {
        self.allow_shared_mode = yes;
        self
    }

    /// Accept, on open, a file owned by another user.
    pub fn allow_foreign_owner(mut self, yes: bool) -> Self {
        self.allow_foreign_owner = yes;
        self
    }

    /// How many handles may be registered as alive at once (1 to 1024).
    pub fn registry_slots(mut self, slots: u32) -> Self {
        self.registry_slots = slots.clamp(1, registry::MAX_SLOTS);
        self
    }

    /// The registry slot count a created segment gets.
    pub(crate) fn slots(&self) -> u32 {
        self.registry_slots
    }
}

/// What an object asks of its segment: kind, element fingerprint, and the
/// size and alignment of its state.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub kind: ObjectKind,
    pub fingerprint: Fingerprint,
    pub data_size: u64,
    pub data_align: u64,
}

impl Spec {
    pub fn new(kind: ObjectKind, fingerprint: Fingerprint, data_size: usize, data_align: usize) -> Spec {
        Spec { kind, fingerprint, data_size: data_size as u64, data_align: data_align as u64 }
    }

    /// Where the type description and the state lie and the total size:
    /// `(desc_offset, data_offset, total)`.
    fn layout(&self, slots: u32) -> Result<(u64, u64, u64), Error> {
        if self.data_align > 4096 || !self.data_align.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "alignment {} is not a power of two up to 4096",
                self.data_align
            )));
        }
        let align = self.data_align.max(64);
        let registry_end = HEADER_SIZE as u64 + u64::from(slots) * 4;
        let desc_end = registry_end + self.fingerprint.encoding.len() as u64;
        let data_offset = desc_end.div_ceil(align) * align;
        let total = data_offset
            .checked_add(self.data_size)
            .filter(|&t| t <= i64::MAX as u64)
            .ok_or_else(|| Error::InvalidArgument(format!("a segment of {} bytes is too large", self.data_size)))?;
        Ok((registry_end, data_offset, total))
    }
}

/// A segment file's descriptor, tracked for the `fork` child handler while
/// it is open (see [`fork`]).
struct SegmentFd {
    fd: OwnedFd,
    /// Its entry in the fork handler's table; `None` if the table was full.
    entry: Option<usize>,
}

impl SegmentFd {
    fn new(fd: OwnedFd) -> SegmentFd {
        let entry = fork::track(fd.as_raw_fd());
        SegmentFd { fd, entry }
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SegmentFd {
    fn drop(&mut self) {
        // Untracked before the descriptor closes (the field drops after).
        if let Some(entry) = self.entry {
            fork::untrack(entry);
        }
    }
}

/// A mapped segment: the file, the mapping and the checked header.
///
/// Internal: objects wrap it and expose typed state. The handle that created
/// the name unlinks it on drop unless [`RawSegment::persist`] was called.
///
/// Its liveness identity (registry slot and token) belongs to the process
/// that claimed it: used in a `fork()`ed child, the handle first claims a
/// slot of its own on a fresh open file description (see [`fork`]).
pub(crate) struct RawSegment {
    name: String,
    path: CString,
    /// The mapping as the SIGBUS guard knows it; declared before `map` so
    /// that it is forgotten before the unmap.
    _sigbus: crate::sigbus::Record,
    map: MmapRaw,
    fd: SegmentFd,
    header: Header,
    /// The element type's description (checked against the header's hash).
    desc: String,
    /// Unlink the name on drop (creator and not persisted).
    owns_name: AtomicBool,
    /// The fork generation the handle was made in: only that process (not
    /// a forked child) unlinks the name on drop.
    born: u32,
    /// The liveness slot this handle holds: the fork generation it was
    /// claimed in (high 32 bits) and its token (low 32 bits).
    identity: AtomicU64,
    /// Serializes the re-registration of a forked child's threads.
    fork_lock: std::sync::Mutex<()>,
    /// What the object keeps under this handle's slot, moved to a forked
    /// child's own slot when it registers (see [`ForkHook`]).
    fork_hook: OnceLock<Box<dyn ForkHook>>,
}

/// State that a handle keeps per process under its registry slot (a
/// queue's endpoint counts). A `fork()`ed child holds copies of what its
/// parent held: when it registers the handle under a slot of its own, the
/// hook counts those copies there, so that they are the child's (dropped
/// in the child, they uncount the child; the child dead, they are dead)
/// and never the parent's.
pub(crate) trait ForkHook: Send + Sync + 'static {
    /// Runs in a forked child that has just claimed `reg` for the handle,
    /// before any of its threads acts under it (under the handle's
    /// re-registration lock).
    fn registered(&self, reg: Registration);

    /// The hook as `Any`, for the object that installed it to find it.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// An identity word: `registration` claimed in fork generation `generation`.
fn identity_word(generation: u32, registration: Registration) -> u64 {
    (u64::from(generation) << 32) | u64::from(registration.token().to_bits())
}

// SAFETY: the mapping is shared memory that every process and thread may
// access through atomics or the objects' own locks; the handle's own fields
// are immutable after construction or atomic.
unsafe impl Send for RawSegment {}
// SAFETY: as above; nothing in the handle is mutated without synchronization.
unsafe impl Sync for RawSegment {}

impl RawSegment {
    /// Creates `name` exclusively, lets `init` write the object state into the
    /// zeroed data region, then publishes the segment.
    ///
    /// `init` receives a pointer to `spec.data_size` zeroed, writable bytes
    /// aligned to `spec.data_align`.
    pub fn create(
        name: &str,
        spec: &Spec,
        opts: &OpenOptions,
        init: impl FnOnce(*mut u8),
    ) -> Result<RawSegment, Error> {
        // The segment is built under a private name and linked in under its
        // real one only once published: `link` fails if the name exists, so
        // create stays exclusive, and a creator that dies half-way leaves no
        // never-ready file under the name (only a temporary one).
        let path = name::path_of(name)?;
        let temp = name::temp_path_of(name)?;
        let slots = opts.registry_slots;
        spec.fingerprint.check()?;
        let (desc_offset, data_offset, total) = spec.layout(slots)?;
        check_room(name, total)?;
        let fd = sys::create_exclusive(&temp, opts.mode).map_err(|e| Error::from_open("create", name, e))?;
        let fd = SegmentFd::new(fd);
        // From here on, a failure must not leave the temporary file behind.
        let drop_temp = |e: Error| {
            let _ = sys::unlink(&temp);
            e
        };
        sys::allocate(fd.as_fd(), total).map_err(|e| {
            drop_temp(match e.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EFBIG) => Error::NoSpace { name: name.to_owned(), bytes: total },
                _ => Error::Io { op: "reserve memory for", name: name.to_owned(), source: e },
            })
        })?;
        let map = map_file(fd.as_fd(), total)
            .map_err(|e| drop_temp(Error::Io { op: "map", name: name.to_owned(), source: e }))?;
        // The creator registers first, so that `shmkit ls` can tell whether it
        // is alive. The registry is still all zeros and nobody else sees it.
        let born = fork::generation();
        let reg = claim_slot(name, fd.as_fd(), &map, slots).map_err(drop_temp)?;
        let mut seg = RawSegment {
            name: name.to_owned(),
            path,
            _sigbus: crate::sigbus::Record::new(name, map.as_ptr(), map.len()),
            map,
            fd,
            header: bytemuck::Zeroable::zeroed(),
            desc: spec.fingerprint.encoding.clone(),
            // Not ours to unlink until the link below succeeds.
            owns_name: AtomicBool::new(false),
            born,
            identity: AtomicU64::new(identity_word(born, reg)),
            fork_lock: std::sync::Mutex::new(()),
            fork_hook: OnceLock::new(),
        };
        let header = Header::new(
            spec.kind,
            &spec.fingerprint,
            total,
            slots,
            desc_offset,
            data_offset,
            spec.data_size,
            reg.slot(),
        );
        let desc = spec.fingerprint.encoding.as_bytes();
        // SAFETY: the mapping is `total >= HEADER_SIZE` bytes, page-aligned,
        // and not yet visible to any opener (it has no public name yet), so
        // we are its only writer; the description's `desc.len()` bytes at
        // `desc_offset` end before `data_offset <= total` (Spec::layout).
        unsafe {
            std::ptr::write(seg.map.as_mut_ptr().cast::<Header>(), header);
            std::ptr::copy_nonoverlapping(desc.as_ptr(), seg.map.as_mut_ptr().add(desc_offset as usize), desc.len());
        }
        seg.header = header;
        // SAFETY: `data_offset + data_size <= total` (Spec::layout), and the
        // offset is a multiple of the alignment asked for.
        init(unsafe { seg.map.as_mut_ptr().add(data_offset as usize) });
        // Publish: everything written above happens-before an opener's
        // Acquire load that sees READY.
        seg.init_word().store(READY, Ordering::Release);
        crate::failpoint::hit(crate::failpoint::SEGMENT_BEFORE_LINK);
        let linked = sys::link(&temp, &seg.path);
        let _ = sys::unlink(&temp);
        linked.map_err(|e| Error::from_open("create", name, e))?;
        seg.owns_name.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(seg)
    }

    /// Opens `name` whatever it holds, after the file, permission and header
    /// checks (for inspection).
    pub fn open_any(name: &str, opts: &OpenOptions) -> Result<RawSegment, Error> {
        let Opened { path, fd, map, header, desc } = open_checked(name, opts)?;
        let fd = SegmentFd::new(fd);
        let born = fork::generation();
        let registration = claim_slot(name, fd.as_fd(), &map, header.registry_slots)?;
        Ok(RawSegment {
            name: name.to_owned(),
            path,
            _sigbus: crate::sigbus::Record::new(name, map.as_ptr(), map.len()),
            map,
            fd,
            header,
            desc,
            owns_name: AtomicBool::new(false),
            born,
            identity: AtomicU64::new(identity_word(born, registration)),
            fork_lock: std::sync::Mutex::new(()),
            fork_hook: OnceLock::new(),
        })
    }

    /// Reads and checks `name`'s header like [`RawSegment::open_any`], but
    /// claims no liveness slot: for inspecting a segment without appearing
    /// in it as a live handle. Returns the header and the file, whose OFD
    /// lock bytes tell which slots are held.
    pub fn peek(name: &str, opts: &OpenOptions) -> Result<(Header, String, OwnedFd), Error> {
        open_checked(name, opts).map(|o| (o.header, o.desc, o.fd))
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checked header snapshot.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The element type's canonical description, as the creator stored it
    /// (checked against the header's hash at open).
    #[allow(dead_code, reason = "segment API for the objects and inspection")]
    pub fn type_description(&self) -> &str {
        &self.desc
    }

    /// Checks that the segment holds `kind` with the fingerprint `fp`,
    /// naming the first differing field of the element type if they
    /// differ, and the capacity in what was asked only if `asked_capacity`.
    ///
    /// # Errors
    /// [`Error::WrongKind`] or [`Error::WrongType`].
    pub fn expect(&self, kind: ObjectKind, fp: &Fingerprint, asked_capacity: bool) -> Result<(), Error> {
        self.header.expect_described(&self.name, Some(&self.desc), kind, fp, asked_capacity)
    }

    /// Keep the name after this handle is dropped, and mark the segment
    /// persisted in its header (so `shmkit gc` leaves it alone).
    pub fn persist(&self) {
        self.owns_name.store(false, std::sync::atomic::Ordering::Relaxed);
        // Relaxed: a flag for inspection, ordered with nothing else.
        self.flags_word().fetch_or(FLAG_PERSISTED, Ordering::Relaxed);
    }

    /// Whether the segment is marked persisted (now, not at open).
    #[allow(dead_code, reason = "segment API for the objects and tests")]
    pub fn is_persisted(&self) -> bool {
        self.flags_word().load(Ordering::Relaxed) & FLAG_PERSISTED != 0
    }

    fn flags_word(&self) -> &AtomicU32 {
        // SAFETY: FLAGS_OFFSET is 4-aligned inside the header of the
        // page-aligned mapping, which lives as long as `self`; the word is
        // only accessed atomically once the segment is published.
        unsafe { &*self.map.as_ptr().add(FLAGS_OFFSET).cast::<AtomicU32>() }
    }

    /// Start of the object state.
    pub fn data_ptr(&self) -> *mut u8 {
        // SAFETY: data_offset + data_size <= total size (validated header).
        unsafe { self.map.as_mut_ptr().add(self.header.data_offset as usize) }
    }

    /// Size of the object state in bytes.
    pub fn data_len(&self) -> usize {
        self.header.data_size as usize
    }

    /// Whether `ptr..ptr+len` lies inside this segment's mapping.
    pub fn contains(&self, ptr: *const u8, len: usize) -> bool {
        let start = self.map.as_ptr() as usize;
        let p = ptr as usize;
        p >= start && p.checked_add(len).is_some_and(|end| end <= start + self.map.len())
    }

    fn init_word(&self) -> &AtomicU32 {
        // SAFETY: INIT_OFFSET is 4-aligned inside the page-aligned mapping,
        // which lives as long as `self`; the word is only accessed atomically.
        unsafe { &*self.map.as_ptr().add(INIT_OFFSET).cast::<AtomicU32>() }
    }

    /// The registry's generation words.
    pub fn generations(&self) -> &[AtomicU32] {
        registry_words(&self.map, self.header.registry_slots)
    }

    /// The liveness slot this handle holds in this process. In a forked
    /// child, the first call claims a slot of the child's own.
    ///
    /// For the operations that have no error to return (a lock, an
    /// acquire, a send through an endpoint the parent made): a forked child
    /// that cannot register (see [`RawSegment::try_registration`]) waits,
    /// retrying in naps of 1 to 16 ms, until it can. It never acts under its
    /// parent's identity, and never panics.
    #[inline]
    pub fn registration(&self) -> Registration {
        let id = self.identity.load(Ordering::Relaxed);
        if (id >> 32) as u32 == fork::generation() {
            return Registration::from_token(Token::from_bits(id as u32));
        }
        self.register_after_fork_waiting()
    }

    /// [`RawSegment::registration`] for the operations that return an
    /// error: the same one relaxed load of the fork generation when the
    /// handle is registered in this process.
    ///
    /// # Errors
    /// In a forked child that cannot claim a slot of its own:
    /// [`Error::RegistryFull`] when every slot is held by a live handle,
    /// [`Error::Io`] when the segment file cannot be opened anew (through
    /// `/proc/self/fd`).
    #[inline]
    pub fn try_registration(&self) -> Result<Registration, Error> {
        let id = self.identity.load(Ordering::Relaxed);
        if (id >> 32) as u32 == fork::generation() {
            return Ok(Registration::from_token(Token::from_bits(id as u32)));
        }
        self.register_after_fork()
    }

    /// Installs the hook that moves this handle's per-process state to a
    /// forked child's own slot (the first hook stays; `false` if one was
    /// there).
    pub fn set_fork_hook(&self, hook: Box<dyn ForkHook>) -> bool {
        self.fork_hook.set(hook).is_ok()
    }

    /// The hook installed with [`RawSegment::set_fork_hook`].
    pub fn fork_hook(&self) -> Option<&dyn ForkHook> {
        self.fork_hook.get().map(|h| &**h)
    }

    /// [`RawSegment::register_after_fork`], retried until it succeeds.
    #[cold]
    #[inline(never)]
    fn register_after_fork_waiting(&self) -> Registration {
        let mut nap = crate::wait::POLL_MIN;
        loop {
            if let Ok(reg) = self.register_after_fork() {
                return reg;
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(crate::wait::POLL_MAX);
        }
    }

    /// Claims a registry slot for this handle in a forked child, on a fresh
    /// open file description of the segment file, so that the child never
    /// acts under its parent's token nor holds its parent's locks; then
    /// lets the [`ForkHook`] move the handle's state there.
    ///
    /// # Errors
    /// If the child cannot get a description or a slot of its own (no
    /// `/proc`, every slot held by a live handle): acting under the
    /// parent's identity instead would make either process's death
    /// invisible to the other. Nothing is changed; a later call tries again.
    #[cold]
    #[inline(never)]
    fn register_after_fork(&self) -> Result<Registration, Error> {
        let _turn = self.fork_lock.lock().unwrap_or_else(|e| e.into_inner());
        let generation = fork::generation();
        let id = self.identity.load(Ordering::Relaxed);
        if (id >> 32) as u32 == generation {
            return Ok(Registration::from_token(Token::from_bits(id as u32)));
        }
        // The fork handler gave a tracked descriptor a fresh description
        // already; doing it again (a description with no lock for another)
        // covers an untracked one, or a handler that failed.
        if !sys::reopen_fresh(self.fd.as_fd().as_raw_fd()) {
            return Err(Error::Io {
                op: "register a fork()ed child in",
                name: self.name.clone(),
                source: std::io::Error::other(
                    "the child could not open the segment file anew (through /proc/self/fd) to register as a \
                     party of its own",
                ),
            });
        }
        let reg = claim_slot(&self.name, self.fd.as_fd(), &self.map, self.header.registry_slots)?;
        if let Some(hook) = self.fork_hook.get() {
            hook.registered(reg);
        }
        self.identity.store(identity_word(generation, reg), Ordering::Relaxed);
        Ok(reg)
    }

    /// Whether the holder named by `token` is alive (see [`registry::is_alive`]).
    pub fn is_alive(&self, token: Token) -> bool {
        // A forked child that could not register has no token of its own
        // to recognise (and none of the parent's is its own).
        let mine = self.try_registration().ok();
        registry::is_alive(self.fd.as_fd(), self.generations(), token, mine)
    }
}

impl registry::Liveness for RawSegment {
    #[inline]
    fn token(&self) -> Token {
        self.registration().token()
    }

    fn is_alive(&self, token: Token) -> bool {
        RawSegment::is_alive(self, token)
    }
}

impl Drop for RawSegment {
    fn drop(&mut self) {
        // A forked child's copy of the creating handle never owns the name.
        if !self.owns_name.load(std::sync::atomic::Ordering::Relaxed) || self.born != fork::generation() {
            return;
        }
        // Unlink only if the name still refers to our file: it may have been
        // removed and created anew by someone else since.
        let ours = sys::fstat(self.fd.as_fd()).map(|st| st.id).ok();
        if ours.is_some() && sys::lstat_id(&self.path).ok() == ours {
            let _ = sys::unlink(&self.path);
        }
    }
}

/// Creates with `create`, or opens with `open` what another process
/// created: safe when processes race. Each round either creates or opens; it
/// repeats only if another process removed the name in between.
pub(crate) fn open_or_create_with<H>(
    name: &str,
    mut create: impl FnMut() -> Result<H, Error>,
    mut open: impl FnMut() -> Result<H, Error>,
) -> Result<H, Error> {
    for _ in 0..64 {
        match create() {
            Err(Error::AlreadyExists { .. }) => {}
            other => return other,
        }
        match open() {
            Err(Error::NotFound { .. }) => continue,
            other => return other,
        }
    }
    Err(Error::Io {
        op: "open or create",
        name: name.to_owned(),
        source: std::io::Error::other("the name kept appearing and disappearing"),
    })
}

/// Removes the segment `name`. Processes that have it mapped keep using it;
/// the memory is freed when the last of them unmaps it.
///
/// # Errors
/// [`Error::InvalidName`], [`Error::NotFound`], or the OS error.
pub fn unlink(name: &str) -> Result<(), Error> {
    let path = name::path_of(name)?;
    sys::unlink(&path).map_err(|e| Error::from_open("remove", name, e))
}

/// Segments from this size on are checked against the free memory before
/// they are made (smaller ones cannot get a process OOM-killed, and a full
/// shm filesystem fails their `posix_fallocate`).
const CHECK_ROOM_FROM: u64 = 1 << 20;

/// Refuses a segment of `bytes` that cannot fit: a segment is memory (a
/// file in a tmpfs), reserved whole at create. Larger than the shm
/// filesystem's free space, `posix_fallocate` would fail anyway; larger
/// than the memory the kernel can give out (`MemAvailable`), it could
/// succeed and get some process OOM-killed later. Unknown figures pass.
///
/// # Errors
/// [`Error::NoSpace`].
fn check_room(name: &str, bytes: u64) -> Result<(), Error> {
    if bytes < CHECK_ROOM_FROM {
        return Ok(());
    }
    let dir = CString::new(sys::SHM_DIR).map_err(|_| Error::InvalidArgument("shm directory".into()))?;
    let fs_free = sys::fs_available(&dir).ok();
    let mem_free = sys::mem_available();
    if fs_free.is_some_and(|free| bytes > free) || mem_free.is_some_and(|free| bytes > free) {
        return Err(Error::NoSpace { name: name.to_owned(), bytes });
    }
    Ok(())
}

/// The generation words of a registry of `slots` slots after the header.
fn registry_words(map: &MmapRaw, slots: u32) -> &[AtomicU32] {
    debug_assert!(map.len() >= HEADER_SIZE + slots as usize * 4);
    // SAFETY: callers pass the slot count of a validated header (or the one
    // they are creating with), so the words lie between the header and the
    // data region inside the mapping; offset 256 is 4-aligned; the words are
    // only ever accessed atomically and live as long as the mapping.
    unsafe { std::slice::from_raw_parts(map.as_ptr().add(HEADER_SIZE).cast::<AtomicU32>(), slots as usize) }
}

/// Claims a liveness slot for a new handle on `fd`.
fn claim_slot(name: &str, fd: BorrowedFd<'_>, map: &MmapRaw, slots: u32) -> Result<Registration, Error> {
    registry::register(fd, registry_words(map, slots), std::process::id())
        .map_err(|e| Error::Io { op: "register in", name: name.to_owned(), source: e })?
        .ok_or(Error::RegistryFull { name: name.to_owned(), slots })
}

fn map_file(fd: BorrowedFd<'_>, len: u64) -> std::io::Result<MmapRaw> {
    MmapOptions::new().len(len as usize).map_raw(&fd)
}

/// What [`open_checked`] found: the file, its mapping, the checked header
/// and type description.
struct Opened {
    path: CString,
    fd: OwnedFd,
    map: MmapRaw,
    header: Header,
    desc: String,
}

/// Opens `name`, checks the file and that it was published, and checks a
/// snapshot of its header and type description.
fn open_checked(name: &str, opts: &OpenOptions) -> Result<Opened, Error> {
    let path = name::path_of(name)?;
    let fd = sys::open_existing(&path).map_err(|e| Error::from_open("open", name, e))?;
    let (map, size) = map_published(name, &fd, opts)?;
    // SAFETY: the mapping holds at least HEADER_SIZE bytes (checked by
    // map_published) at a page-aligned address. A volatile read copies the
    // bytes out once; the copy is then checked, never the live memory.
    let header = unsafe { std::ptr::read_volatile(map.as_ptr().cast::<Header>()) };
    header.validate(name, size)?;
    // validate() checked desc_offset + desc_len <= data_offset <= total_size,
    // which is the mapping's length.
    let desc: Vec<u8> = (header.desc_offset..header.desc_offset + u64::from(header.desc_len))
        // SAFETY: inside the mapping (above); byte reads of memory another
        // process may write are copied once, then checked as untrusted.
        .map(|at| unsafe { std::ptr::read_volatile(map.as_ptr().add(at as usize)) })
        .collect();
    let desc = header.check_description(name, &desc)?;
    Ok(Opened { path, fd, map, header, desc })
}

/// Checks the file and maps it if its creator published it.
///
/// Create builds a segment under a temporary name and links it in under its
/// real one only once published, so a file under a real name that is
/// shorter than a header ([`Error::BadSize`]) or whose init word is not
/// READY ([`Error::Corrupt`]) will never become ready: it is reported at
/// once, not waited for.
fn map_published(name: &str, fd: &OwnedFd, opts: &OpenOptions) -> Result<(MmapRaw, u64), Error> {
    let st = sys::fstat(fd.as_fd()).map_err(|e| Error::Io { op: "stat", name: name.to_owned(), source: e })?;
    if !st.is_regular {
        return Err(Error::NotRegularFile { name: name.to_owned() });
    }
    let euid = sys::euid();
    if st.uid != euid && !opts.allow_foreign_owner {
        return Err(Error::ForeignOwner { name: name.to_owned(), uid: st.uid, expected: euid });
    }
    if st.mode & 0o077 != 0 && !opts.allow_shared_mode {
        return Err(Error::InsecureMode { name: name.to_owned(), mode: st.mode });
    }
    if st.size < HEADER_SIZE as u64 {
        return Err(Error::BadSize { name: name.to_owned(), size: st.size, expected: HEADER_SIZE as u64 });
    }
    if st.size > isize::MAX as u64 {
        return Err(Error::BadSize { name: name.to_owned(), size: st.size, expected: isize::MAX as u64 });
    }
    let map = map_file(fd.as_fd(), st.size).map_err(|e| Error::Io { op: "map", name: name.to_owned(), source: e })?;
    // SAFETY: INIT_OFFSET is 4-aligned inside the mapping; read atomically.
    let init = unsafe { &*map.as_ptr().add(INIT_OFFSET).cast::<AtomicU32>() }.load(Ordering::Acquire);
    check_published(name, init)?;
    Ok((map, st.size))
}

/// What the init word of a file under a real name says: `Ok` once
/// published, else [`Error::Corrupt`]: create links a segment in only after
/// publishing it, so an unpublished one was never made by create, or was
/// damaged since.
pub(crate) fn check_published(name: &str, init: u32) -> Result<(), Error> {
    match init {
        READY => Ok(()),
        0 => Err(Error::Corrupt {
            name: name.to_owned(),
            reason: "it was never published (init word 0): shmkit's create links a segment in only once it is \
                     ready, so this file was not made by it"
                .into(),
        }),
        other => Err(Error::Corrupt { name: name.to_owned(), reason: format!("init word {other:#x}") }),
    }
}
