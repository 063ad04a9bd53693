//! The header at the start of every segment, and the checks an opener makes.
//!
//! ```text
//! offset  field            notes
//! 0       magic            b"SHMKIT\0\x01"
//! 8       version          FORMAT_VERSION
//! 12      kind             ObjectKind as u32
//! 16      init             0 while the creator works, READY once published
//! 20      header_size      HEADER_SIZE
//! 24      total_size       bytes in the file
//! 32      creator_pid
//! 36      registry_slots   liveness slots (generation words) after the header
//! 40      data_offset      where the object's state starts (64-aligned)
//! 48      data_size
//! 56      creator_slot     registry slot the creator holds
//! 60      flags            bit 0 PERSISTED (set by `persist()`), changes after publish
//! 64      elem_size  | elem_align | type_hash | capacity   (the fingerprint)
//! 96      type_name_len
//! 100     desc_len         bytes of the type description
//! 104     checksum         FNV-1a over the header with init, flags and checksum zeroed
//! 112     desc_offset      where the type description starts (after the registry)
//! 120     (reserved, zero)
//! 128     type_name        up to 128 bytes, for error messages and `shmkit ls`
//! ```
//! Everything but `init` and `flags` is written once, before `init` is set
//! to READY with Release ordering; after that it never changes, so the
//! checksum covers it. `flags` is a word of bits set atomically (`fetch_or`)
//! while the segment is in use, outside the checksum.
//!
//! The type description (the canonical encoding of the element type, see
//! [`crate::shm_type`]) lies at `desc_offset`, right after the liveness
//! registry; `type_hash` is its FNV-1a 64, so the checksum covers it too.
//! `docs/FORMAT.md` is the full contract.

use bytemuck::{Pod, Zeroable};

use crate::error::Error;
use crate::shm_type::{MAX_ENCODING_LEN, ShmLayout, first_difference};

/// First eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"SHMKIT\0\x01";
/// Version of the segment format this library reads and writes.
///
/// 2: the fingerprint hashes the element type's canonical layout
/// description, stored after the registry (1 hashed `std::any::type_name`).
/// 3: a byte ring's record is published by a stamp in its own header.
/// 4: a typed broadcast's slot head is its sequence word alone.
/// 5: a byte ring's long message has its payload on a cache line, after a
/// padding record that may stop short of the ring's end.
pub const FORMAT_VERSION: u32 = 5;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 256;
/// Value of the init word once the creator has published the segment.
pub const READY: u32 = 0x5245_4459; // "REDY"
/// Bit of the header's `flags` word: `persist()` was called on a handle of
/// the segment, so `shmkit gc` leaves it alone although its creator is gone.
pub const FLAG_PERSISTED: u32 = 1;
/// Longest element type name kept in the header.
const TYPE_NAME_MAX: usize = 128;

/// The kind of object a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A user-defined layout placed with [`Segment`](crate::Segment).
    Raw = 1,
    /// [`Value`](crate::Value).
    Value = 2,
    /// [`Array`](crate::Array).
    Array = 3,
    /// [`Mutex`](crate::Mutex).
    Mutex = 4,
    /// [`Atomic`](crate::Atomic).
    Atomic = 5,
    /// A counting semaphore.
    Semaphore = 6,
    /// A semaphore whose count may not exceed its initial value.
    BoundedSemaphore = 7,
    /// An event flag.
    Event = 8,
    /// A condition variable.
    Condvar = 9,
    /// A barrier.
    Barrier = 10,
    /// A reader-writer lock.
    RwLock = 11,
    /// A typed message queue.
    Queue = 12,
    /// A queue of variable-size byte messages.
    ByteQueue = 13,
    /// A duplex pipe of two byte queues.
    Pipe = 14,
    /// A typed message queue for one sender and one receiver at a time.
    SpscQueue = 15,
    /// [`SharedMemory`](crate::SharedMemory): a block of raw bytes.
    SharedMemory = 16,
    /// [`MessageQueue`](crate::MessageQueue): a multi-producer queue of
    /// variable-size byte messages in slots of a fixed size.
    MessageQueue = 17,
    /// [`Broadcast`](crate::Broadcast): publish–subscribe of typed messages.
    Broadcast = 18,
    /// [`ByteBroadcast`](crate::ByteBroadcast): publish–subscribe of byte
    /// messages.
    ByteBroadcast = 19,
}

impl ObjectKind {
    /// Decodes the kind word of a header.
    pub fn from_u32(v: u32) -> Option<ObjectKind> {
        Some(match v {
            1 => ObjectKind::Raw,
            2 => ObjectKind::Value,
            3 => ObjectKind::Array,
            4 => ObjectKind::Mutex,
            5 => ObjectKind::Atomic,
            6 => ObjectKind::Semaphore,
            7 => ObjectKind::BoundedSemaphore,
            8 => ObjectKind::Event,
            9 => ObjectKind::Condvar,
            10 => ObjectKind::Barrier,
            11 => ObjectKind::RwLock,
            12 => ObjectKind::Queue,
            13 => ObjectKind::ByteQueue,
            14 => ObjectKind::Pipe,
            15 => ObjectKind::SpscQueue,
            16 => ObjectKind::SharedMemory,
            17 => ObjectKind::MessageQueue,
            18 => ObjectKind::Broadcast,
            19 => ObjectKind::ByteBroadcast,
            _ => return None,
        })
    }

    /// The type name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Raw => "Segment",
            ObjectKind::Value => "Value",
            ObjectKind::Array => "Array",
            ObjectKind::Mutex => "Mutex",
            ObjectKind::Atomic => "Atomic",
            ObjectKind::Semaphore => "Semaphore",
            ObjectKind::BoundedSemaphore => "BoundedSemaphore",
            ObjectKind::Event => "Event",
            ObjectKind::Condvar => "Condvar",
            ObjectKind::Barrier => "Barrier",
            ObjectKind::RwLock => "RwLock",
            ObjectKind::Queue => "Queue",
            ObjectKind::ByteQueue => "ByteQueue",
            ObjectKind::Pipe => "Pipe",
            ObjectKind::SpscQueue => "SpscQueue",
            ObjectKind::SharedMemory => "SharedMemory",
            ObjectKind::Broadcast => "Broadcast",
            ObjectKind::ByteBroadcast => "ByteBroadcast",
            ObjectKind::MessageQueue => "MessageQueue",
        }
    }

    /// Whether the capacity is part of the description (`Array<f32>[1024]`).
    fn shows_capacity(self) -> bool {
        matches!(
            self,
            ObjectKind::Array
                | ObjectKind::Queue
                | ObjectKind::SpscQueue
                | ObjectKind::ByteQueue
                | ObjectKind::SharedMemory
                | ObjectKind::Broadcast
                | ObjectKind::ByteBroadcast
                | ObjectKind::MessageQueue
        )
    }

    /// Whether the element type is part of the description (`Value<u64>`).
    /// The kinds without one (`Event`, `Barrier`, a `ByteQueue` of bytes)
    /// never show the type of their internal state.
    fn shows_element(self) -> bool {
        matches!(
            self,
            ObjectKind::Raw
                | ObjectKind::Value
                | ObjectKind::Array
                | ObjectKind::Mutex
                | ObjectKind::Atomic
                | ObjectKind::RwLock
                | ObjectKind::Queue
                | ObjectKind::SpscQueue
                | ObjectKind::Broadcast
        )
    }
}

/// How a person knows an object: `Queue<Job>[64]`, `Value<u64>`, `Event`;
/// the capacity only if `capacity` is given.
fn describe(kind: ObjectKind, type_name: &str, capacity: Option<u64>) -> String {
    let mut out = kind.name().to_owned();
    if kind.shows_element() {
        out.push_str(&format!("<{type_name}>"));
    }
    if let Some(capacity) = capacity.filter(|_| kind.shows_capacity()) {
        out.push_str(&format!("[{capacity}]"));
    }
    out
}

/// What an object's element type and capacity look like; two processes must
/// agree on it to share the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `size_of` the element type.
    pub elem_size: u64,
    /// `align_of` the element type.
    pub elem_align: u64,
    /// The element type's name (`Job`, `[f32; 4]`), for messages.
    pub type_name: String,
    /// The canonical encoding of the element type's layout; its hash is the
    /// type's identity.
    pub encoding: String,
    /// Number of elements (1 for a single value).
    pub capacity: u64,
}

impl Fingerprint {
    /// The fingerprint of `capacity` elements of `T`.
    pub fn of<T: ShmLayout>(capacity: u64) -> Fingerprint {
        let desc = T::type_desc();
        Fingerprint {
            elem_size: std::mem::size_of::<T>() as u64,
            elem_align: std::mem::align_of::<T>() as u64,
            encoding: desc.encode(),
            type_name: desc.name,
            capacity,
        }
    }

    /// Stable 64-bit hash of the layout description.
    pub fn type_hash(&self) -> u64 {
        fnv1a(self.encoding.as_bytes())
    }

    /// Human description, e.g. `Array<f32>[1024]`.
    pub fn describe(&self, kind: ObjectKind) -> String {
        describe(kind, &self.type_name, Some(self.capacity))
    }

    /// Human description without the capacity, e.g. `Array<f32>`: what an
    /// `open` that does not name a capacity asks for.
    pub fn describe_any_capacity(&self, kind: ObjectKind) -> String {
        describe(kind, &self.type_name, None)
    }

    /// Checks that the description can be stored and read back (names of
    /// `[A-Za-z0-9_]`, a bounded length): a hand-written
    /// [`ShmLayout`](crate::ShmLayout) may break the rules.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the problem.
    pub fn check(&self) -> Result<(), Error> {
        crate::shm_type::parse(&self.encoding)
            .map(drop)
            .map_err(|e| Error::InvalidArgument(format!("the layout of {} cannot be stored: {e}", self.type_name)))
    }
}

pub use crate::shm_type::fnv1a;

/// The header as it lies in memory. All fields are plain integers so a
/// snapshot can be copied out and checked without trusting it.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct Header {
    pub magic: [u8; 8],
    pub version: u32,
    pub kind: u32,
    pub init: u32,
    pub header_size: u32,
    pub total_size: u64,
    pub creator_pid: u32,
    pub registry_slots: u32,
    pub data_offset: u64,
    pub data_size: u64,
    pub creator_slot: u32,
    pub flags: u32,
    pub elem_size: u64,
    pub elem_align: u64,
    pub type_hash: u64,
    pub capacity: u64,
    pub type_name_len: u32,
    pub desc_len: u32,
    pub checksum: u64,
    pub desc_offset: u64,
    pub _pad2: [u8; 8],
    pub type_name: [u8; TYPE_NAME_MAX],
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_SIZE);
/// Byte offset of the init word inside the header.
pub const INIT_OFFSET: usize = std::mem::offset_of!(Header, init);
/// Byte offset of the flags word inside the header.
pub const FLAGS_OFFSET: usize = std::mem::offset_of!(Header, flags);

impl Header {
    /// A header for a new segment, `init` still zero and the checksum filled.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: ObjectKind,
        fp: &Fingerprint,
        total_size: u64,
        registry_slots: u32,
        desc_offset: u64,
        data_offset: u64,
        data_size: u64,
        creator_slot: u32,
    ) -> Header {
        let mut h = Header::zeroed();
        h.magic = MAGIC;
        h.version = FORMAT_VERSION;
        h.kind = kind as u32;
        h.header_size = HEADER_SIZE as u32;
        h.total_size = total_size;
        h.creator_pid = std::process::id();
        h.registry_slots = registry_slots;
        h.data_offset = data_offset;
        h.data_size = data_size;
        h.creator_slot = creator_slot;
        h.elem_size = fp.elem_size;
        h.elem_align = fp.elem_align;
        h.type_hash = fp.type_hash();
        h.capacity = fp.capacity;
        let name = truncate_utf8(&fp.type_name, TYPE_NAME_MAX);
        h.type_name[..name.len()].copy_from_slice(name.as_bytes());
        h.type_name_len = name.len() as u32;
        h.desc_offset = desc_offset;
        h.desc_len = fp.encoding.len() as u32;
        h.checksum = h.compute_checksum();
        h
    }

    /// FNV-1a over the header with `init`, `flags` and `checksum` taken as
    /// zero.
    pub fn compute_checksum(&self) -> u64 {
        let mut copy = *self;
        copy.init = 0;
        copy.flags = 0;
        copy.checksum = 0;
        fnv1a(bytemuck::bytes_of(&copy))
    }

    /// Whether the header's snapshot has [`FLAG_PERSISTED`] set.
    pub fn persisted(&self) -> bool {
        self.flags & FLAG_PERSISTED != 0
    }

    /// The element type name stored in the header (lossy if damaged).
    pub fn type_name(&self) -> String {
        let len = (self.type_name_len as usize).min(TYPE_NAME_MAX);
        String::from_utf8_lossy(&self.type_name[..len]).into_owned()
    }

    /// Human description of what the segment holds, e.g. `Array<f32>[1024]`.
    pub fn describe(&self) -> String {
        match ObjectKind::from_u32(self.kind) {
            Some(kind) => describe(kind, &self.type_name(), Some(self.capacity)),
            None => format!("an unknown kind ({})", self.kind),
        }
    }

    /// Checks, in order: magic, version, checksum, field sanity against the
    /// file size. Kind and fingerprint are checked by [`Header::expect`], the
    /// type description's bytes by [`Header::check_description`].
    pub fn validate(&self, name: &str, file_size: u64) -> Result<(), Error> {
        if self.magic != MAGIC {
            return Err(Error::BadMagic { name: name.to_owned() });
        }
        if self.version != FORMAT_VERSION {
            return Err(Error::VersionMismatch {
                name: name.to_owned(),
                found: self.version,
                expected: FORMAT_VERSION,
            });
        }
        let corrupt = |reason: String| Err(Error::Corrupt { name: name.to_owned(), reason });
        if self.checksum != self.compute_checksum() {
            return corrupt("header checksum mismatch".into());
        }
        // The checksum only says the header was written whole by some shmkit;
        // the fields are still checked before anything relies on them.
        if ObjectKind::from_u32(self.kind).is_none() {
            return corrupt(format!("unknown object kind {}", self.kind));
        }
        if self.header_size as usize != HEADER_SIZE {
            return corrupt(format!("header size {} (expected {HEADER_SIZE})", self.header_size));
        }
        if self.registry_slots > crate::segment::registry::MAX_SLOTS {
            return corrupt(format!("{} registry slots", self.registry_slots));
        }
        let registry_end = HEADER_SIZE as u64 + u64::from(self.registry_slots) * 4;
        let desc_end = self.desc_offset.checked_add(u64::from(self.desc_len));
        if self.desc_offset != registry_end
            || self.desc_len as usize > MAX_ENCODING_LEN
            || desc_end.is_none_or(|e| e > self.data_offset)
        {
            return corrupt(format!(
                "type description {}+{} does not lie between the registry (ending at {registry_end}) and the data \
                 (at {})",
                self.desc_offset, self.desc_len, self.data_offset
            ));
        }
        let data_end = self.data_offset.checked_add(self.data_size);
        if self.data_offset < registry_end || self.data_offset % 64 != 0 || data_end.is_none_or(|e| e > self.total_size)
        {
            return corrupt(format!(
                "data region {}+{} does not fit in {} bytes",
                self.data_offset, self.data_size, self.total_size
            ));
        }
        if self.total_size != file_size {
            return Err(Error::BadSize { name: name.to_owned(), size: file_size, expected: self.total_size });
        }
        if self.type_name_len as usize > TYPE_NAME_MAX {
            return corrupt(format!("type name length {}", self.type_name_len));
        }
        // Readers divide by the alignment (element offsets in `shmkit info`).
        if !self.elem_align.is_power_of_two() {
            return corrupt(format!("element alignment {}", self.elem_align));
        }
        Ok(())
    }

    /// Checks the type description copied from `desc_offset` (`desc_len`
    /// bytes, untrusted): its hash is `type_hash`, it parses, and it names
    /// the type the header names. Returns it as text.
    ///
    /// # Errors
    /// [`Error::Corrupt`] saying what is wrong.
    pub fn check_description(&self, name: &str, bytes: &[u8]) -> Result<String, Error> {
        let corrupt = |reason: String| Error::Corrupt { name: name.to_owned(), reason };
        if bytes.len() != self.desc_len as usize || fnv1a(bytes) != self.type_hash {
            return Err(corrupt("the type description does not match its hash".into()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("the type description is not text".into()))?;
        let node = crate::shm_type::parse(text).map_err(corrupt)?;
        if truncate_utf8(&node.display(), TYPE_NAME_MAX) != self.type_name() {
            return Err(corrupt(format!("type name {:?} disagrees with its description", self.type_name())));
        }
        Ok(text.to_owned())
    }

    /// What differs from `fp` in words, when the names alone do not show it.
    fn plain_difference(&self, fp: &Fingerprint) -> String {
        if self.capacity != fp.capacity {
            format!("its capacity is {} there, {} here", self.capacity, fp.capacity)
        } else if (self.elem_size, self.elem_align) != (fp.elem_size, fp.elem_align) {
            format!(
                "its element is {} bytes aligned to {} there, {} bytes aligned to {} here",
                self.elem_size, self.elem_align, fp.elem_size, fp.elem_align
            )
        } else {
            format!(
                "its element type has another layout under the same name (fingerprint {:#018x} there, {:#018x} here)",
                self.type_hash,
                fp.type_hash()
            )
        }
    }

    /// Checks that the segment holds `kind` with the fingerprint `fp`.
    pub fn expect(&self, name: &str, kind: ObjectKind, fp: &Fingerprint) -> Result<(), Error> {
        self.expect_described(name, None, kind, fp, true)
    }

    /// [`Header::expect`] that names the first differing field when the
    /// segment's own type description `stored` is given, and the capacity
    /// asked for only if `asked_capacity`.
    pub fn expect_described(
        &self,
        name: &str,
        stored: Option<&str>,
        kind: ObjectKind,
        fp: &Fingerprint,
        asked_capacity: bool,
    ) -> Result<(), Error> {
        let wanted = if asked_capacity { fp.describe(kind) } else { fp.describe_any_capacity(kind) };
        if self.kind != kind as u32 {
            return Err(Error::WrongKind { name: name.to_owned(), holds: self.describe(), wanted });
        }
        if self.elem_size != fp.elem_size
            || self.elem_align != fp.elem_align
            || self.type_hash != fp.type_hash()
            || self.capacity != fp.capacity
        {
            let parsed = |text: &str| crate::shm_type::parse(text).ok();
            let difference = match (stored.and_then(parsed), parsed(&fp.encoding)) {
                (Some(there), Some(here)) if self.type_hash != fp.type_hash() => first_difference(&there, &here),
                _ => None,
            };
            let holds = self.describe();
            // Two descriptions that read the same must still say what differs.
            let difference = difference.or_else(|| (holds == wanted).then(|| self.plain_difference(fp)));
            return Err(Error::WrongType { name: name.to_owned(), holds, wanted, difference });
        }
        Ok(())
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_matches_the_documented_form() {
        assert_eq!(Fingerprint::of::<f32>(1024).describe(ObjectKind::Array), "Array<f32>[1024]");
        assert_eq!(Fingerprint::of::<u64>(1).describe(ObjectKind::Value), "Value<u64>");
    }

    /// The offsets docs/FORMAT.md gives for the header.
    #[test]
    fn format_md_header_offsets() {
        use std::mem::offset_of;
        let at = [
            (offset_of!(Header, version), 8),
            (offset_of!(Header, kind), 12),
            (offset_of!(Header, init), 16),
            (offset_of!(Header, total_size), 24),
            (offset_of!(Header, registry_slots), 36),
            (offset_of!(Header, data_offset), 40),
            (offset_of!(Header, creator_slot), 56),
            (offset_of!(Header, flags), 60),
            (offset_of!(Header, elem_size), 64),
            (offset_of!(Header, type_hash), 80),
            (offset_of!(Header, capacity), 88),
            (offset_of!(Header, type_name_len), 96),
            (offset_of!(Header, desc_len), 100),
            (offset_of!(Header, checksum), 104),
            (offset_of!(Header, desc_offset), 112),
            (offset_of!(Header, type_name), 128),
        ];
        for (i, (found, documented)) in at.into_iter().enumerate() {
            assert_eq!(found, documented, "field {i}");
        }
        assert_eq!(READY, u32::from_le_bytes(*b"YDER"));
    }

    #[test]
    fn checksum_covers_every_field_but_init_and_flags() {
        let fp = Fingerprint::of::<u64>(1);
        let h = Header::new(ObjectKind::Value, &fp, 4096, 64, 512, 576, 16, 0);
        let bytes = bytemuck::bytes_of(&h);
        for (i, byte) in bytes.iter().enumerate() {
            let mut damaged = h;
            bytemuck::bytes_of_mut(&mut damaged)[i] ^= 0x40;
            let unchecked =
                (INIT_OFFSET..INIT_OFFSET + 4).contains(&i) || (FLAGS_OFFSET..FLAGS_OFFSET + 4).contains(&i);
            let detected = damaged.validate("t", 4096).is_err();
            assert_eq!(detected, !unchecked, "byte {i} (was {byte:#x})");
        }
    }
}
