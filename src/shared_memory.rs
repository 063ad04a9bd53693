//! [`SharedMemory`]: a named block of raw bytes, as Python's
//! `multiprocessing.shared_memory.SharedMemory`.

use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout, handle_api};
use crate::segment::ShmSafe;
use crate::segment::header::{Fingerprint, Header, ObjectKind};

/// Alignment of the first byte of every [`SharedMemory`] block.
const ALIGN: usize = 64;

/// A named segment of raw bytes shared by processes that attach to it by
/// name: the equivalent of Python's
/// `multiprocessing.shared_memory.SharedMemory`.
///
/// The bytes carry no lock and no type: what they mean, and who may write
/// them when, is up to the programs that share them (place atomics in them,
/// or guard them with a [`Mutex`](crate::Mutex) or
/// [`Semaphore`](crate::Semaphore) of their own). For shared data with a
/// type, use [`Value`](crate::Value), [`Array`](crate::Array) or
/// [`Segment`](crate::Segment) instead.
///
/// A new block is zeroed, and its first byte is aligned to 64 bytes. The
/// segment has the header, permission and ownership checks of every shmkit
/// object: opening a segment of another kind is an error.
///
/// The handle is `Send` and `Sync`: it only owns the mapping; access to the
/// bytes goes through [`as_ptr`](SharedMemory::as_ptr) and the `unsafe`
/// slice views, whose callers take on the synchronization.
///
/// ```
/// use shmkit::SharedMemory;
/// # let name = format!("doc-shm-{}", std::process::id());
///
/// // Process A: create 4 KiB of zeroed bytes.
/// let mut a = SharedMemory::create(&name, 4096)?;
/// // SAFETY: no other handle uses the bytes yet.
/// unsafe { a.as_mut_slice()[..5].copy_from_slice(b"hello") };
///
/// // Process B: open by name; the size comes from the segment.
/// let b = SharedMemory::open(&name)?;
/// assert_eq!(b.len(), 4096);
/// // SAFETY: nobody writes the bytes while we read them.
/// assert_eq!(unsafe { &b.as_slice()[..5] }, b"hello");
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct SharedMemory(Handle<Block>);

/// The state of a [`SharedMemory`] segment: nothing but the alignment of the
/// bytes that follow it.
#[repr(C, align(64))]
pub(crate) struct Block;

const _: () = assert!(std::mem::align_of::<Block>() == ALIGN);

// SAFETY: a zero-sized type has no bytes, so no bit pattern to be invalid,
// no pointers and no drop glue; the bytes after it are reached only through
// `as_ptr` and the `unsafe` slice views.
unsafe impl ShmSafe for Block {}

impl SegmentState for Block {
    const KINDS: &'static [ObjectKind] = &[ObjectKind::SharedMemory];
    /// The size in bytes.
    type Params = u64;
    type Init<'a> = ();

    fn fingerprint(size: &u64) -> Fingerprint {
        Fingerprint::of::<u8>(*size)
    }

    fn layout(&size: &u64, _slots: u32) -> Result<StateLayout, Error> {
        let size = usize::try_from(size)
            .ok()
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("a shared memory block of {size} bytes is too large")))?;
        Ok(StateLayout { size, align: ALIGN })
    }

    /// A new block is zeroed.
    fn init(&mut self, _tail: &mut [u8], _size: &u64, _slots: u32, _init: ()) {}

    fn params_of(_name: &str, header: &Header) -> Result<u64, Error> {
        Ok(header.capacity)
    }
}

handle_api! {
    impl[] SharedMemory, "shared memory block", " of `size` zeroed bytes (its first byte aligned to 64)";
    create(size: usize) => (size as u64, ());
}

impl SharedMemory {
    /// Size of the block in bytes.
    pub fn len(&self) -> usize {
        self.0.segment().data_len()
    }

    /// Whether the block has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first byte of the block, aligned to 64 bytes; the block is
    /// [`len`](SharedMemory::len) bytes long and stays mapped as long as
    /// this handle lives.
    ///
    /// Other processes may read and write the bytes at any time: access
    /// them with atomics, volatile or raw-pointer copies, under whatever
    /// protocol the sharing programs agree on.
    pub fn as_ptr(&self) -> *mut u8 {
        self.0.data_ptr()
    }

    /// The block as a byte slice.
    ///
    /// # Safety
    /// While the slice lives, no one (no thread of this process, no other
    /// process) may write the bytes: a slice promises they do not change.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes from `as_ptr` are mapped for as long as `self`
        // lives; the caller guarantees that nobody writes them meanwhile.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// The block as a mutable byte slice.
    ///
    /// # Safety
    /// While the slice lives, no one else (no other handle in this process,
    /// no other process) may read or write the bytes: a mutable slice
    /// promises exclusive access.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes from `as_ptr` are mapped and writable for as
        // long as `self` lives; `&mut self` rules out other views through
        // this handle, and the caller guarantees there are no others.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len()) }
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory").field("name", &self.name()).field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(tag: &str) -> String {
        format!("unit-shm-{tag}-{}", std::process::id())
    }

    #[test]
    fn zeroed_aligned_and_shared_between_handles() {
        let n = name("share");
        let a = SharedMemory::create(&n, 1000).unwrap();
        assert_eq!((a.name(), a.len(), a.is_empty()), (n.as_str(), 1000, false));
        assert_eq!(a.as_ptr() as usize % ALIGN, 0);
        // SAFETY: nobody writes the block yet.
        assert!(unsafe { a.as_slice() }.iter().all(|&b| b == 0));
        let mut b = SharedMemory::open(&n).unwrap();
        // SAFETY: only this view touches the block while it lives.
        unsafe { b.as_mut_slice()[999] = 7 };
        // SAFETY: nobody writes the block now.
        assert_eq!(unsafe { a.as_slice() }[999], 7);
    }

    #[test]
    fn open_or_create_agrees_on_size() {
        let n = name("ooc");
        let a = SharedMemory::open_or_create(&n, 64).unwrap();
        let b = SharedMemory::open_or_create(&n, 64).unwrap();
        assert_eq!((a.len(), b.len()), (64, 64));
        assert!(matches!(SharedMemory::open_or_create(&n, 65), Err(Error::WrongType { .. })));
    }
}
