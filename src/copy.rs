//! Copying message bytes in and out of shared memory.
//!
//! glibc's `memcpy` copies blocks from a few KiB up with `rep movsb`. On
//! the AMD EPYC machines this project is measured on, `rep movsb` runs at
//! about 3 GB/s instead of 30–36 GB/s when the source is page-aligned and
//! the destination sits a few bytes off a cache line (for example 64 KiB
//! from a page-aligned buffer into a record payload 8 bytes into a line).
//! Which case a copy hits depends on where the caller's buffer happens to
//! be, so large-message throughput used to vary tenfold between runs.
//! Below the `rep movsb` threshold glibc copies with vector loops, which
//! have no such case; [`copy`] therefore hands large copies to `memcpy` in
//! pieces of [`PIECE`] bytes. The cost is one call per piece: a few percent
//! where `rep movsb` would have been fast.

/// Largest piece handed to `memcpy` at once: below glibc's `rep movsb`
/// threshold (2 KiB or more on x86-64).
pub const PIECE: usize = 1024;

/// Copies `len` bytes from `src` to `dst`, large copies in pieces.
///
/// # Safety
/// As [`std::ptr::copy_nonoverlapping`]: `src` readable and `dst` writable
/// for `len` bytes, not overlapping.
#[inline]
pub unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
    if len <= 16 {
        // SAFETY: the caller's contract.
        unsafe { copy_small(src, dst, len) };
        return;
    }
    if len <= PIECE {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { copy_pieces(src, dst, len) }
}

/// Copies up to 16 bytes inline, as two words that may overlap: a small
/// message costs no call into `memcpy`.
///
/// # Safety
/// As [`copy`], with `len <= 16`.
#[inline(always)]
unsafe fn copy_small(src: *const u8, dst: *mut u8, len: usize) {
    use std::ptr::{read_unaligned, write_unaligned};
    debug_assert!(len <= 16);
    // SAFETY: every access is inside the first `len` bytes of `src` (read)
    // or `dst` (written): the two words of a pair start at 0 and at
    // `len - size`, which the branch makes non-negative.
    unsafe {
        if len >= 8 {
            let (a, b) = (read_unaligned(src.cast::<u64>()), read_unaligned(src.add(len - 8).cast::<u64>()));
            write_unaligned(dst.cast::<u64>(), a);
            write_unaligned(dst.add(len - 8).cast::<u64>(), b);
        } else if len >= 4 {
            let (a, b) = (read_unaligned(src.cast::<u32>()), read_unaligned(src.add(len - 4).cast::<u32>()));
            write_unaligned(dst.cast::<u32>(), a);
            write_unaligned(dst.add(len - 4).cast::<u32>(), b);
        } else if len > 0 {
            let (a, m, b) = (*src, *src.add(len / 2), *src.add(len - 1));
            *dst = a;
            *dst.add(len / 2) = m;
            *dst.add(len - 1) = b;
        }
    }
}

/// # Safety
/// As [`copy`].
#[inline(never)]
unsafe fn copy_pieces(src: *const u8, dst: *mut u8, len: usize) {
    let mut done = 0;
    while done < len {
        // A piece size that varies with the loop keeps the compiler from
        // merging the pieces back into one memcpy.
        let n = (len - done).min(PIECE);
        // SAFETY: done + n <= len; the caller's contract covers the rest.
        unsafe { std::ptr::copy_nonoverlapping(src.add(done), dst.add(done), n) };
        done += n;
    }
}

/// Copies `src` into `dst`, which must be as long.
#[inline]
pub fn copy_slice(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy_slice: lengths differ");
    // SAFETY: two distinct borrows of `len` bytes each.
    unsafe { copy(src.as_ptr(), dst.as_mut_ptr(), src.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the piece boundaries, at odd offsets, arrives
    /// whole.
    #[test]
    fn copies_every_length_whole() {
        let src: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        for len in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE, 2 * PIECE + 13, 4093]
        {
            for off in [0, 1, 8, 63] {
                let mut dst = vec![0xeeu8; len + 2 * off + 2];
                copy_slice(&mut dst[off + 1..off + 1 + len], &src[off..off + len]);
                assert_eq!(&dst[off + 1..off + 1 + len], &src[off..off + len], "len {len} off {off}");
                assert_eq!(dst[off], 0xee, "byte before, len {len}");
                assert_eq!(dst[off + 1 + len], 0xee, "byte after, len {len}");
            }
        }
    }
}
