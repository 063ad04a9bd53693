//! Looking at segments from outside: what `shmkit ls` and `shmkit info` show.

use std::time::Duration;

use crate::error::Error;
use crate::name::FILE_PREFIX;
use crate::segment::header::{HEADER_SIZE, Header, INIT_OFFSET, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, init_published, registry};
use crate::sync::raw_mutex::RawMutex;
use crate::sys;
use crate::wait::{Deadline, WaitStrategy};

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
    /// Handles other than the inspecting one registered as alive.
    pub live_handles: u32,
    /// Liveness slots in the registry.
    pub registry_slots: u32,
    /// Offset and size of the object state.
    pub data: (u64, u64),
}

fn info_of(seg: &RawSegment) -> SegmentInfo {
    let h: &Header = seg.header();
    let me = seg.registration().slot();
    let live =
        (0..h.registry_slots).filter(|&s| s != me && registry::slot_held(seg.fd(), s).unwrap_or(false)).count() as u32;
    SegmentInfo {
        name: seg.name().to_owned(),
        kind: ObjectKind::from_u32(h.kind),
        holds: h.describe(),
        type_name: h.type_name(),
        capacity: h.capacity,
        size: h.total_size,
        version: h.version,
        creator_pid: h.creator_pid,
        creator_alive: seg.creator_alive(),
        live_handles: live,
        registry_slots: h.registry_slots,
        data: (h.data_offset, h.data_size),
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
/// (file type, owner, mode): a file shorter than a header or a zero init
/// word is [`Error::NotReady`] (the opener would wait for it), any other
/// unpublished init word [`Error::Corrupt`], then magic
/// ([`Error::BadMagic`]), version ([`Error::VersionMismatch`]), checksum and
/// field sanity ([`Error::Corrupt`]) and the size ([`Error::BadSize`]).
/// Kind and element type are left to the typed `open` calls. Errors name
/// the segment [`CHECKED_BYTES_NAME`].
///
/// ```
/// use shmkit::inspect::check_header;
/// use shmkit::Error;
/// assert!(matches!(check_header(&[0u8; 256], 4096), Err(Error::NotReady { .. })));
/// assert!(matches!(check_header(&[0xffu8; 256], 4096), Err(Error::Corrupt { .. })));
/// ```
///
/// # Errors
/// As above; [`Error::InvalidArgument`] if `bytes` is shorter than a header
/// although `file_size` is not.
pub fn check_header(bytes: &[u8], file_size: u64) -> Result<HeaderInfo, Error> {
    let name = CHECKED_BYTES_NAME;
    if file_size < HEADER_SIZE as u64 {
        return Err(Error::NotReady { name: name.to_owned(), waited_ms: 0 });
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
    if !init_published(name, u32::from_ne_bytes(init))? {
        return Err(Error::NotReady { name: name.to_owned(), waited_ms: 0 });
    }
    let h: Header = bytemuck::pod_read_unaligned(head);
    h.validate(name, file_size)?;
    let kind = ObjectKind::from_u32(h.kind)
        .ok_or_else(|| Error::Corrupt { name: name.to_owned(), reason: format!("unknown object kind {}", h.kind) })?;
    Ok(HeaderInfo {
        kind,
        holds: h.describe(),
        type_name: h.type_name(),
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
        .collect();
    names.sort();
    Ok(names)
}

/// Opens `name` for inspection (any kind) and reads its header.
///
/// # Errors
/// The open checks of the segment layer, each with its own variant.
pub fn info(name: &str) -> Result<SegmentInfo, Error> {
    RawSegment::open_any(name, &OpenOptions::default()).map(|seg| info_of(&seg))
}

/// The contents of a Value, Mutex, Atomic or Array, rendered for people:
/// numbers for primitive element types, hex otherwise. At most `max_elems`
/// elements are shown. `Ok(None)` for kinds whose contents are not data.
///
/// The lock is taken for the copy (waiting at most 100 ms); a dead holder's
/// mark is left for the next real locker.
///
/// # Errors
/// The open checks, or [`Error::InvalidArgument`] if the lock stays busy.
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
    if locked {
        // SAFETY: Value, Mutex and Array states start with the lock word,
        // 4-aligned, inside the mapping.
        let raw = unsafe { &*seg.data_ptr().cast::<RawMutex>() };
        let dirty = raw
            .lock(&seg, Deadline::after(Duration::from_millis(100)), WaitStrategy::Park)
            .map_err(|_| Error::InvalidArgument(format!("segment '{name}' stayed locked for 100 ms")))?;
        copy(&mut bytes);
        raw.unlock(dirty);
    } else {
        copy(&mut bytes);
    }
    let mut out = render(&h.type_name(), &bytes, elem);
    if (shown as u64) < h.capacity {
        out.push_str(&format!(" … ({} more)", h.capacity - shown as u64));
    }
    Ok(Some(out))
}

/// Renders elements of a primitive type as numbers, anything else as hex.
fn render(type_name: &str, bytes: &[u8], elem: usize) -> String {
    macro_rules! nums {
        ($($name:literal => $t:ty),*) => {
            match type_name {
                $($name if elem == std::mem::size_of::<$t>() => {
                    let items: Vec<String> = bytes
                        .chunks_exact(elem)
                        .map(|c| <$t>::from_ne_bytes(c.try_into().unwrap_or_default()).to_string())
                        .collect();
                    return format_items(items);
                })*
                _ => {}
            }
        };
    }
    nums!("u8" => u8, "u16" => u16, "u32" => u32, "u64" => u64, "u128" => u128,
          "i8" => i8, "i16" => i16, "i32" => i32, "i64" => i64, "i128" => i128,
          "f32" => f32, "f64" => f64, "usize" => usize, "isize" => isize);
    let items: Vec<String> =
        bytes.chunks(elem.max(1)).map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>()).collect();
    format_items(items)
}

fn format_items(items: Vec<String>) -> String {
    if items.len() == 1 { items.into_iter().next().unwrap_or_default() } else { format!("[{}]", items.join(", ")) }
}
