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
//! 64      elem_size  | elem_align | type_hash | capacity   (the fingerprint)
//! 96      type_name_len
//! 104     checksum         FNV-1a over the header with init and checksum zeroed
//! 128     type_name        up to 128 bytes, for error messages and `shmkit ls`
//! ```
//! Everything but `init` is written once, before `init` is set to READY with
//! Release ordering; after that it never changes, so the checksum covers it.

use bytemuck::{Pod, Zeroable};

use crate::error::Error;

/// First eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"SHMKIT\0\x01";
/// Version of the segment format this library reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 256;
/// Value of the init word once the creator has published the segment.
pub const READY: u32 = 0x5245_4459; // "REDY"
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
        )
    }
}

/// What an object's element type and capacity look like; two processes must
/// agree on it to share the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `size_of` the element type.
    pub elem_size: u64,
    /// `align_of` the element type.
    pub elem_align: u64,
    /// The element type's name (`std::any::type_name`), for messages.
    pub type_name: String,
    /// Number of elements (1 for a single value).
    pub capacity: u64,
}

impl Fingerprint {
    /// The fingerprint of `capacity` elements of `T`.
    pub fn of<T>(capacity: u64) -> Fingerprint {
        Fingerprint {
            elem_size: std::mem::size_of::<T>() as u64,
            elem_align: std::mem::align_of::<T>() as u64,
            type_name: std::any::type_name::<T>().to_owned(),
            capacity,
        }
    }

    /// Stable 64-bit hash of the type name.
    pub fn type_hash(&self) -> u64 {
        fnv1a(self.type_name.as_bytes())
    }

    /// Human description, e.g. `Array<f32>[1024]`.
    pub fn describe(&self, kind: ObjectKind) -> String {
        if kind.shows_capacity() {
            format!("{}<{}>[{}]", kind.name(), self.type_name, self.capacity)
        } else {
            format!("{}<{}>", kind.name(), self.type_name)
        }
    }
}

/// FNV-1a, 64-bit: small, stable across builds and platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

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
    pub _pad0: u32,
    pub elem_size: u64,
    pub elem_align: u64,
    pub type_hash: u64,
    pub capacity: u64,
    pub type_name_len: u32,
    pub _pad1: u32,
    pub checksum: u64,
    pub _pad2: [u8; 16],
    pub type_name: [u8; TYPE_NAME_MAX],
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_SIZE);
/// Byte offset of the init word inside the header.
pub const INIT_OFFSET: usize = std::mem::offset_of!(Header, init);

impl Header {
    /// A header for a new segment, `init` still zero and the checksum filled.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: ObjectKind,
        fp: &Fingerprint,
        total_size: u64,
        registry_slots: u32,
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
        h.checksum = h.compute_checksum();
        h
    }

    /// FNV-1a over the header with `init` and `checksum` taken as zero.
    pub fn compute_checksum(&self) -> u64 {
        let mut copy = *self;
        copy.init = 0;
        copy.checksum = 0;
        fnv1a(bytemuck::bytes_of(&copy))
    }

    /// The element type name stored in the header (lossy if damaged).
    pub fn type_name(&self) -> String {
        let len = (self.type_name_len as usize).min(TYPE_NAME_MAX);
        String::from_utf8_lossy(&self.type_name[..len]).into_owned()
    }

    /// The fingerprint stored in the header.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            elem_size: self.elem_size,
            elem_align: self.elem_align,
            type_name: self.type_name(),
            capacity: self.capacity,
        }
    }

    /// Human description of what the segment holds, e.g. `Array<f32>[1024]`.
    pub fn describe(&self) -> String {
        match ObjectKind::from_u32(self.kind) {
            Some(kind) => self.fingerprint().describe(kind),
            None => format!("an unknown kind ({})", self.kind),
        }
    }

    /// Checks, in order: magic, version, checksum, field sanity against the
    /// file size. Kind and fingerprint are checked by [`Header::expect`].
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

    /// Checks that the segment holds `kind` with the fingerprint `fp`.
    pub fn expect(&self, name: &str, kind: ObjectKind, fp: &Fingerprint) -> Result<(), Error> {
        let wanted = fp.describe(kind);
        if self.kind != kind as u32 {
            return Err(Error::WrongKind { name: name.to_owned(), holds: self.describe(), wanted });
        }
        if self.elem_size != fp.elem_size
            || self.elem_align != fp.elem_align
            || self.type_hash != fp.type_hash()
            || self.capacity != fp.capacity
        {
            return Err(Error::WrongType { name: name.to_owned(), holds: self.describe(), wanted });
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

    #[test]
    fn checksum_covers_every_field_but_init() {
        let fp = Fingerprint::of::<u64>(1);
        let h = Header::new(ObjectKind::Value, &fp, 4096, 64, 512, 16, 0);
        let bytes = bytemuck::bytes_of(&h);
        for (i, byte) in bytes.iter().enumerate() {
            let mut damaged = h;
            bytemuck::bytes_of_mut(&mut damaged)[i] ^= 0x40;
            let in_init = (INIT_OFFSET..INIT_OFFSET + 4).contains(&i);
            let detected = damaged.validate("t", 4096).is_err();
            assert_eq!(detected, !in_init, "byte {i} (was {byte:#x})");
        }
    }
}
