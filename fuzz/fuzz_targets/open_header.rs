//! Feeds arbitrary bytes to the checks a segment opener makes on a header
//! (`shmkit::inspect::check_header`), without touching the filesystem.
//!
//! Input: one flags byte, then (if flag bit 1) an 8-byte little-endian file
//! size, then the segment's first bytes. With flag bit 0 the target fixes up
//! the header checksum first, so that the fuzzer reaches the field checks
//! behind it instead of stopping at the checksum every time.
//!
//! Whatever the bytes, `check_header` must return, never panic; a header it
//! accepts must describe a layout that fits the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmkit::inspect::check_header;

/// Header layout facts (see `src/segment/header.rs`).
const HEADER_SIZE: usize = 256;
const INIT: std::ops::Range<usize> = 16..20;
const CHECKSUM: std::ops::Range<usize> = 104..112;
/// The flags word (persisted), outside the checksum like `init`.
const FLAGS: std::ops::Range<usize> = 60..64;
const MAX_SLOTS: u32 = 1024;

/// FNV-1a, 64-bit, over the header with the init word, the flags word and
/// the checksum taken as zero: the checksum a creator writes.
fn header_checksum(head: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, &b) in head.iter().enumerate() {
        let b = if INIT.contains(&i) || FLAGS.contains(&i) || CHECKSUM.contains(&i) { 0 } else { b };
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let (file_size, bytes) = match rest.split_first_chunk::<8>() {
        Some((size, tail)) if flags & 2 != 0 => (u64::from_le_bytes(*size), tail),
        _ => (rest.len() as u64, rest),
    };
    let mut bytes = bytes.to_vec();
    if flags & 1 != 0 && bytes.len() >= HEADER_SIZE {
        let sum = header_checksum(&bytes[..HEADER_SIZE]);
        bytes[CHECKSUM].copy_from_slice(&sum.to_ne_bytes());
    }
    if let Ok(info) = check_header(&bytes, file_size) {
        let (offset, size) = info.data;
        assert_eq!(info.size, file_size, "accepted a header whose size disagrees with the file");
        assert!(offset.checked_add(size).is_some_and(|end| end <= file_size), "state past the end");
        assert!(offset >= HEADER_SIZE as u64 + u64::from(info.registry_slots) * 4, "state overlaps the registry");
        assert!(offset % 64 == 0, "misaligned state");
        assert!(info.registry_slots <= MAX_SLOTS, "too many registry slots");
        assert!(info.type_name.len() <= 128 * 3, "type name longer than its field");
        assert!(info.elem_align.is_power_of_two(), "element alignment {}", info.elem_align);
        if let Some(desc) = &info.type_description {
            assert!(desc.len() <= 64 * 1024, "type description of {} bytes", desc.len());
            assert!(
                offset >= HEADER_SIZE as u64 + u64::from(info.registry_slots) * 4 + desc.len() as u64,
                "state overlaps the type description"
            );
        }
    }
});
