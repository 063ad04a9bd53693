//! Looking at segments from outside: what `shmkit ls` and `shmkit info` show.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::error::Error;
use crate::name::FILE_PREFIX;
use crate::segment::header::{FLAG_PERSISTED, FLAGS_OFFSET, HEADER_SIZE, Header, INIT_OFFSET, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, check_published, registry};
use crate::sync::raw_mutex::RawMutex;
use crate::sys;
use crate::wait::{Deadline, WaitStrategy};

/// The directory that holds the segment files (`/dev/shm`): each segment
/// `NAME` is the file `shmkit.NAME` in it ([`FILE_PREFIX`], then the name;
/// see [`file_path`]).
pub const SHM_DIR: &str = sys::SHM_DIR;

/// What a segment's header says, plus who is attached.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    /// The segment name.
    pub name: String,
    /// The object kind, if known to this version.
    pub kind: Option<ObjectKind>,
    /// What it holds, e.g. `Array<f32>[1024]`.
    pub holds: String,
    /// The element type name.
    pub type_name: String,
    /// The element type's canonical layout description, e.g.
    /// `Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8` (see `docs/FORMAT.md`).
    pub type_description: String,
    /// The layout fingerprint: FNV-1a 64 of the description.
    pub type_hash: u64,
    /// `size_of` the element type.
    pub elem_size: u64,
    /// `align_of` the element type.
    pub elem_align: u64,
    /// Number of elements.
    pub capacity: u64,
    /// Size of the file in bytes.
    pub size: u64,
    /// Format version.
    pub version: u32,
    /// PID of the process that created it.
    pub creator_pid: u32,
    /// Whether the creating handle is still open somewhere.
    pub creator_alive: bool,
    /// Handles registered as alive. Inspecting with [`info`] registers
    /// nothing, so it does not count itself or other `shmkit ls` runs.
    pub live_handles: u32,
    /// Liveness slots in the registry.
    pub registry_slots: u32,
    /// Offset and size of the object state.
    pub data: (u64, u64),
    /// Whether `persist()` was called on a handle of it: `shmkit gc` leaves
    /// it alone unless asked (`--include-persisted`).
    pub persisted: bool,
}

/// The header's facts plus who holds which slot. `fd` must be a file
/// description that holds no slot itself (see [`RawSegment::peek`]), so that
/// every held slot is another handle.
fn info_of(name: &str, h: &Header, desc: String, fd: BorrowedFd<'_>) -> SegmentInfo {
    let live = (0..h.registry_slots).filter(|&s| registry::slot_held(fd, s).unwrap_or(false)).count() as u32;
    // An error reading the lock is taken as "alive": never call a live
    // creator dead.
    let creator_alive = registry::slot_held(fd, h.creator_slot).unwrap_or(true);
    SegmentInfo {
        name: name.to_owned(),
        kind: ObjectKind::from_u32(h.kind),
        holds: h.describe(),
        type_name: h.type_name(),
        type_description: desc,
        type_hash: h.type_hash,
        elem_size: h.elem_size,
        elem_align: h.elem_align,
        capacity: h.capacity,
        size: h.total_size,
        version: h.version,
        creator_pid: h.creator_pid,
        creator_alive,
        live_handles: live,
        registry_slots: h.registry_slots,
        data: (h.data_offset, h.data_size),
        persisted: h.persisted(),
    }
}

/// What a header that passed the opener's checks says (see [`check_header`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The object kind.
    pub kind: ObjectKind,
    /// What it holds, e.g. `Array<f32>[1024]`.
    pub holds: String,
    /// The element type name.
    pub type_name: String,
    /// The element type's canonical layout description, if `bytes` reached
    /// it (it follows the liveness registry).
    pub type_description: Option<String>,
    /// Number of elements.
    pub capacity: u64,
    /// `size_of` the element type, as the creator recorded it.
    pub elem_size: u64,
    /// `align_of` the element type (a power of two).
    pub elem_align: u64,
    /// Size of the segment in bytes (equal to the file size given).
    pub size: u64,
    /// Format version.
    pub version: u32,
    /// PID of the process that created it.
    pub creator_pid: u32,
    /// Liveness slots in the registry.
    pub registry_slots: u32,
    /// Offset and size of the object state.
    pub data: (u64, u64),
}

/// The name [`check_header`] puts in its errors.
pub const CHECKED_BYTES_NAME: &str = "<bytes>";

/// Runs the checks an opener makes on a segment's header, on a copy of its
/// first bytes instead of a file: `bytes` is the start of the segment (at
/// least its 256-byte header), `file_size` the size the file would have.
///
/// The checks are the opener's, in its order, after the file-level ones
/// (file type, owner, mode): a file shorter than a header is
/// [`Error::BadSize`], an init word other than READY [`Error::Corrupt`]
/// (create links a segment in only once it is published, so neither will
/// ever become ready), then magic ([`Error::BadMagic`]), version
/// ([`Error::VersionMismatch`]), checksum and field sanity
/// ([`Error::Corrupt`]) and the size ([`Error::BadSize`]); then, if `bytes`
/// reach it, the type description (its hash and syntax, [`Error::Corrupt`]).
/// Kind and element type are left to the typed `open` calls. Errors name
/// the segment [`CHECKED_BYTES_NAME`].
///
/// ```
/// use shmkit::inspect::check_header;
/// use shmkit::Error;
/// assert!(matches!(check_header(&[0u8; 256], 4096), Err(Error::Corrupt { .. })));
/// assert!(matches!(check_header(&[0u8; 256], 100), Err(Error::BadSize { .. })));
/// assert!(matches!(check_header(&[0xffu8; 256], 4096), Err(Error::Corrupt { .. })));
/// ```
///
/// # Errors
/// As above; [`Error::InvalidArgument`] if `bytes` is shorter than a header
/// although `file_size` is not.
pub fn check_header(bytes: &[u8], file_size: u64) -> Result<HeaderInfo, Error> {
    let name = CHECKED_BYTES_NAME;
    if file_size < HEADER_SIZE as u64 {
        return Err(Error::BadSize { name: name.to_owned(), size: file_size, expected: HEADER_SIZE as u64 });
    }
    if file_size > isize::MAX as u64 {
        return Err(Error::BadSize { name: name.to_owned(), size: file_size, expected: isize::MAX as u64 });
    }
    let Some(head) = bytes.get(..HEADER_SIZE) else {
        return Err(Error::InvalidArgument(format!(
            "{} bytes given; a segment header is {HEADER_SIZE} bytes",
            bytes.len()
        )));
    };
    let mut init = [0u8; 4];
    init.copy_from_slice(&head[INIT_OFFSET..INIT_OFFSET + 4]);
    check_published(name, u32::from_ne_bytes(init))?;
    let h: Header = bytemuck::pod_read_unaligned(head);
    h.validate(name, file_size)?;
    // validate() bounded the description's offset and length.
    let desc_range = h.desc_offset as usize..h.desc_offset as usize + h.desc_len as usize;
    let type_description = match bytes.get(desc_range) {
        Some(desc) => Some(h.check_description(name, desc)?),
        None => None,
    };
    let kind = ObjectKind::from_u32(h.kind)
        .ok_or_else(|| Error::Corrupt { name: name.to_owned(), reason: format!("unknown object kind {}", h.kind) })?;
    Ok(HeaderInfo {
        kind,
        holds: h.describe(),
        type_name: h.type_name(),
        type_description,
        capacity: h.capacity,
        elem_size: h.elem_size,
        elem_align: h.elem_align,
        size: h.total_size,
        version: h.version,
        creator_pid: h.creator_pid,
        registry_slots: h.registry_slots,
        data: (h.data_offset, h.data_size),
    })
}

/// Names of every shmkit segment in the shm directory, sorted.
///
/// # Errors
/// If the shm directory cannot be read.
pub fn names() -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(sys::SHM_DIR)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix(FILE_PREFIX)).map(str::to_owned))
        // Skips what is not a segment name, such as a creator's temporary file.
        .filter(|n| crate::name::validate(n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Opens `name` for inspection (any kind) and reads its header.
///
/// # Errors
/// The open checks of the segment layer, each with its own variant.
pub fn info(name: &str) -> Result<SegmentInfo, Error> {
    info_with(name, &OpenOptions::default())
}

/// [`info`] with options (e.g. to inspect a segment of another user).
///
/// # Errors
/// As [`info`].
pub fn info_with(name: &str, opts: &OpenOptions) -> Result<SegmentInfo, Error> {
    let (header, desc, fd) = RawSegment::peek(name, opts)?;
    Ok(info_of(name, &header, desc, fd.as_fd()))
}

/// What [`collect`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Collected {
    /// Removed: no live handle (its creator's included) was attached.
    Removed,
    /// Left alone: a live handle is attached.
    InUse,
    /// Left alone: it is persisted ([`SegmentInfo::persisted`]) and
    /// persisted segments were not asked for.
    Persisted,
    /// Left alone: the name was removed or given to another segment while
    /// it was being collected.
    Changed,
}

/// Whether a segment whose file is open as `fd` must be kept, and why: a
/// live handle holds a slot, or it is persisted (read from the file now,
/// not from a header snapshot) and `include_persisted` is false.
fn keep_reason(fd: BorrowedFd<'_>, slots: u32, include_persisted: bool) -> Option<Collected> {
    // An error reading a lock is taken as "held": never remove a live one.
    if (0..slots).any(|s| registry::slot_held(fd, s).unwrap_or(true)) {
        return Some(Collected::InUse);
    }
    let flags = sys::read_u32_at(fd, FLAGS_OFFSET as u64).unwrap_or(FLAG_PERSISTED);
    (!include_persisted && flags & FLAG_PERSISTED != 0).then_some(Collected::Persisted)
}

/// Removes the segment `name` if no live handle is attached to it (its
/// creator is gone, and nobody else uses it) and, unless
/// `include_persisted`, it was not persisted: what `shmkit gc --yes` does
/// for each segment.
///
/// Safe against a segment that changes meanwhile: the name is first moved
/// aside (renamed to a private name in the shm directory, so that nobody
/// can open it by name any more), then the moved file is checked to be the
/// one inspected and still unused, and only then removed; otherwise it is
/// put back under its name. A segment created anew under the name after
/// the first look is never removed. A process that opened the name just
/// before it was moved and has not registered yet keeps its mapping, as
/// after any removal.
///
/// # Errors
/// The open checks of the segment layer ([`Error::NotFound`] if the name
/// is gone); [`Error::Io`] if the name could not be moved or put back (a
/// segment created under the name while it was moved aside keeps the name;
/// the message names where the old one was left).
pub fn collect(name: &str, include_persisted: bool) -> Result<Collected, Error> {
    let (header, _desc, fd) = RawSegment::peek(name, &OpenOptions::default())?;
    let slots = header.registry_slots;
    if let Some(kept) = keep_reason(fd.as_fd(), slots, include_persisted) {
        return Ok(kept);
    }
    let io = |op: &'static str, e: std::io::Error| Error::Io { op, name: name.to_owned(), source: e };
    let id = sys::fstat(fd.as_fd()).map_err(|e| io("stat", e))?.id;
    let path = crate::name::path_of(name)?;
    let aside = crate::name::temp_path_of(name)?;
    crate::failpoint::hit(crate::failpoint::COLLECT_BEFORE_MOVE_ASIDE);
    match sys::rename_noreplace(&path, &aside) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Collected::Changed),
        Err(e) => return Err(io("move aside", e)),
    }
    // Nobody can open it by name now: what we check is what we remove.
    let outcome = if sys::lstat_id(&aside).ok() != Some(id) {
        Some(Collected::Changed)
    } else {
        keep_reason(fd.as_fd(), slots, include_persisted)
    };
    let Some(kept) = outcome else {
        sys::unlink(&aside).map_err(|e| io("remove", e))?;
        return Ok(Collected::Removed);
    };
    sys::rename_noreplace(&aside, &path).map_err(|e| {
        let left = aside.to_string_lossy().into_owned();
        io("put back", std::io::Error::new(e.kind(), format!("{e}; the segment was left as {left}")))
    })?;
    Ok(kept)
}

/// The path of the file behind `name`, e.g. `/dev/shm/shmkit.NAME`.
///
/// # Errors
/// [`Error::InvalidName`] if the name breaks the naming rules.
pub fn file_path(name: &str) -> Result<std::path::PathBuf, Error> {
    crate::name::validate(name)?;
    Ok(std::path::Path::new(sys::SHM_DIR).join(format!("{FILE_PREFIX}{name}")))
}

/// The contents of a Value, Mutex, Atomic or Array, rendered for people:
/// numbers for primitive element types, hex otherwise. At most `max_elems`
/// elements are shown. `Ok(None)` for kinds whose contents are not data.
///
/// The lock is taken for the copy (waiting at most 100 ms); a dead holder's
/// mark is left for the next real locker, and the text says the data may be
/// half-updated.
///
/// # Errors
/// The open checks, or [`Error::Io`] (`WouldBlock`) if a live holder keeps
/// the lock for 100 ms.
pub fn contents(name: &str, max_elems: usize) -> Result<Option<String>, Error> {
    let seg = RawSegment::open_any(name, &OpenOptions::default())?;
    let h = *seg.header();
    let Some(kind) = ObjectKind::from_u32(h.kind) else { return Ok(None) };
    let elem = h.elem_size as usize;
    let shown = (h.capacity as usize).min(max_elems);
    let data_len = seg.data_len();
    let (offset, locked) = match kind {
        ObjectKind::Value | ObjectKind::Mutex => (h.elem_align.max(4) as usize, true),
        ObjectKind::Array => (4usize.div_ceil(h.elem_align as usize) * h.elem_align as usize, true),
        ObjectKind::Atomic => (0, false),
        _ => return Ok(None),
    };
    let Some(len) = elem.checked_mul(shown).filter(|&n| offset.checked_add(n).is_some_and(|end| end <= data_len))
    else {
        return Err(Error::Corrupt { name: name.to_owned(), reason: "element layout exceeds the state".into() });
    };
    let mut bytes = vec![0u8; len];
    let copy = |dst: &mut [u8]| {
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: offset + len <= data_len (checked above), inside the
            // mapping. Volatile byte reads copy the bytes once; for an
            // Atomic they are read while others may write, which can tear
            // only the rendering, never memory safety.
            *b = unsafe { std::ptr::read_volatile(seg.data_ptr().add(offset + i)) };
        }
    };
    let mut dirty = false;
    if locked {
        // SAFETY: Value, Mutex and Array states start with the lock word,
        // 4-aligned, inside the mapping.
        let raw = unsafe { &*seg.data_ptr().cast::<RawMutex>() };
        dirty =
            raw.lock(&seg, Deadline::after(Duration::from_millis(100)), WaitStrategy::Park).map_err(|_| Error::Io {
                op: "read the contents of",
                name: name.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::WouldBlock, "a live holder kept it locked for 100 ms"),
            })?;
        copy(&mut bytes);
        raw.unlock(dirty);
    } else {
        copy(&mut bytes);
    }
    let mut out = render(&h.type_name(), &bytes, elem);
    if (shown as u64) < h.capacity {
        out.push_str(&format!(" … ({} more)", h.capacity - shown as u64));
    }
    if dirty {
        out.push_str(" (a holder died holding the lock: may be half-updated)");
    }
    Ok(Some(out))
}

/// Renders elements of a primitive type (or of arrays of one, nested) as
/// numbers, anything else as hex.
fn render(type_name: &str, bytes: &[u8], elem: usize) -> String {
    let elem = elem.max(1);
    let items: Vec<String> = bytes
        .chunks(elem)
        .map(|c| render_one(type_name, c).unwrap_or_else(|| c.iter().map(|b| format!("{b:02x}")).collect()))
        .collect();
    format_items(items)
}

/// One element of type `type_name` from exactly its bytes, or `None` if the
/// type is not a primitive number or an array (`[T; N]`) of them.
fn render_one(type_name: &str, bytes: &[u8]) -> Option<String> {
    macro_rules! nums {
        ($($name:literal => $t:ty),*) => {
            match type_name {
                $($name => return Some(<$t>::from_ne_bytes(bytes.try_into().ok()?).to_string()),)*
                _ => {}
            }
        };
    }
    nums!("u8" => u8, "u16" => u16, "u32" => u32, "u64" => u64, "u128" => u128,
          "i8" => i8, "i16" => i16, "i32" => i32, "i64" => i64, "i128" => i128,
          "f32" => f32, "f64" => f64, "usize" => usize, "isize" => isize);
    // `[T; N]`: the length must account for every byte.
    let (inner, n) = type_name.strip_prefix('[')?.strip_suffix(']')?.rsplit_once("; ")?;
    let n: usize = n.parse().ok()?;
    if n == 0 || bytes.is_empty() || bytes.len() % n != 0 {
        return None;
    }
    let parts: Option<Vec<String>> = bytes.chunks(bytes.len() / n).map(|c| render_one(inner, c)).collect();
    Some(format!("[{}]", parts?.join(", ")))
}

fn format_items(items: Vec<String>) -> String {
    if items.len() == 1 { items.into_iter().next().unwrap_or_default() } else { format!("[{}]", items.join(", ")) }
}
