//! Copying message bytes in and out of shared memory.
//!
//! Small messages are copied inline: up to 16 bytes as two words, up to
//! [`NARROW`] on x86-64 in 16-byte stores, the others up to [`PIECE`] by
//! `memcpy`. Into shared memory ([`copy`]) those stores are of 8-byte
//! loads (see `copy_narrow` for why); out of a byte ring ([`copy_out`]), of
//! 16-byte loads (see `copy_wide`). Large ones on x86-64 CPUs with fast
//! string moves (ERMS) are copied by `rep movsb` with the destination
//! brought to a cache line first; elsewhere by `memcpy` in pieces of
//! [`PIECE`] bytes.
//!
//! Why `rep movsb`: a message written by one core and copied out by
//! another crosses cores line by line. Between two processes streaming
//! 64 KiB messages through a byte ring, `rep movsb` moved 58-60 GB/s
//! where vector loops (glibc's below its `rep movsb` threshold, or 32-byte
//! AVX2 loads and stores) moved 37 GB/s, and 29-32 against 7 GB/s while
//! the machine's cross-core path was slow; on one core the two are level.
//!
//! Why the destination is aligned first: on some AMD cores (Zen 3 and 4,
//! glibc bug 30994) `rep movsb` runs up to 20 times slower when the source
//! is aligned and the destination is not. An earlier host of this project
//! showed it (3 GB/s instead of 30 for 64 KiB from a page-aligned buffer
//! into a payload 8 bytes into a line); the current one (Zen 5) copies as
//! fast at every alignment. One unaligned 64-byte step covers the
//! destination's head, so the string move always writes whole lines; the
//! byte rings also put long payloads on a line, so a copy out starts from
//! one.

/// Largest copy handed to `memcpy` whole: below glibc's `rep movsb`
/// threshold (2 KiB or more on x86-64), where it copies with vector loops.
pub const PIECE: usize = 1024;

/// Bytes of a cache line: where a large copy's destination is aligned.
const LINE: usize = 64;

/// Copies `len` bytes from `src` to `dst`, large copies as the module
/// docs say.
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
    #[cfg(target_arch = "x86_64")]
    if len <= NARROW {
        // SAFETY: the caller's contract, 16 < len <= NARROW.
        unsafe { copy_narrow(src, dst, len) };
        return;
    }
    if len <= PIECE {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { copy_large(src, dst, len) }
}

/// Copies `len` bytes from `src` to `dst` as [`copy`] does, but 17 to
/// [`NARROW`] bytes in 16-byte loads (`copy_wide`): a message out of
/// shared memory, written there by another process.
///
/// # Safety
/// As [`copy`].
#[inline(always)]
pub unsafe fn copy_out(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if len > 16 && len <= NARROW {
        // SAFETY: the caller's contract, 16 < len <= NARROW.
        unsafe { copy_wide(src, dst, len) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { copy(src, dst, len) }
}

/// Copies 17 to [`NARROW`] bytes in 16-byte loads and stores, the last 16
/// overlapping.
///
/// Why not `copy_narrow`'s 8-byte loads: they pay where the source was
/// just written by this thread, and a record in a byte ring was written by
/// another process. Out of the ring, 16-byte loads made the 64-byte
/// `ByteQueue` and `Pipe` round trips 14-22 ns faster (129-135 -> 113-121
/// ns, level with the zero-copy rows) in two builds, one with every
/// function aligned, streaming unchanged (BENCHMARKS.md, "Byte-ring round
/// trips").
///
/// Its loop is `copy_narrow`'s, written again: the two sharing one
/// inlined helper moved where the binary's functions lie, and that
/// build's `Pipe` round trip lost 20 ns at 64 B.
///
/// # Safety
/// As [`copy`], with `16 < len <= NARROW`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn copy_wide(src: *const u8, dst: *mut u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    let pair = |at: usize| {
        // SAFETY: as in copy_narrow.
        unsafe { _mm_storeu_si128(dst.add(at).cast::<__m128i>(), _mm_loadu_si128(src.add(at).cast::<__m128i>())) };
    };
    let mut at = 0;
    while at + 16 < len {
        pair(at);
        at += 16;
    }
    pair(len - 16);
}

/// Longest copy made in 16-byte steps (`copy_narrow`, `copy_wide`; on
/// x86-64).
pub const NARROW: usize = 128;

/// Copies 17 to [`NARROW`] bytes loading 8 bytes at a time and storing 16
/// (two loads joined in a register), the last 16 overlapping.
///
/// Why narrow loads: a sender mostly writes its message just before it
/// sends it (a sequence number, a field), and a load wider than that
/// store, or straddling it, cannot take the value from the store buffer.
/// It waits until the store reaches the cache, and so behind every older
/// store, the previous record's into the ring among them, stalled on the
/// line the receiver reads. `memcpy` loads 32 bytes at a time; an 8-byte
/// load is forwarded from any store of 8 bytes or more that covers it.
/// Why 16-byte stores: storing word by word into the ring made a 64-byte
/// round trip 30 ns slower (more stores to lines the other side is
/// polling). Streaming 64-byte messages between two processes, the bench
/// writing each message's first 8 bytes just before sending it:
/// `ByteQueue` 68 -> 96 M msg/s, `Pipe` 50 -> 95 M (BENCHMARKS.md).
///
/// # Safety
/// As [`copy`], with `16 < len <= NARROW`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn copy_narrow(src: *const u8, dst: *mut u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadl_epi64, _mm_storeu_si128, _mm_unpacklo_epi64};
    debug_assert!(len > 16 && len <= NARROW);
    // Reads and writes bytes `at..at + 16`: inside both buffers for every
    // `at` below (`at + 16 < len` in the loop, then `len - 16 >= 1`).
    let pair = |at: usize| {
        // SAFETY: the bytes are in both buffers (above; the caller's
        // contract); the loads and the store are unaligned ones, and SSE2
        // is part of x86-64.
        unsafe {
            let lo = _mm_loadl_epi64(src.add(at).cast::<__m128i>());
            let hi = _mm_loadl_epi64(src.add(at + 8).cast::<__m128i>());
            _mm_storeu_si128(dst.add(at).cast::<__m128i>(), _mm_unpacklo_epi64(lo, hi));
        }
    };
    let mut at = 0;
    while at + 16 < len {
        pair(at);
        at += 16;
    }
    pair(len - 16);
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
/// As [`copy`], with `len > PIECE`.
#[inline(never)]
unsafe fn copy_large(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ermsb") {
        // SAFETY: the caller's contract; len > PIECE >= LINE.
        return unsafe { copy_by_string_move(src, dst, len) };
    }
    // SAFETY: the caller's contract.
    unsafe { copy_pieces(src, dst, len) }
}

/// Copies by `memcpy` in pieces of [`PIECE`] bytes.
///
/// # Safety
/// As [`copy`].
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

/// Copies with `rep movsb` from the destination's first line boundary on,
/// the bytes before it (and some after) by one unaligned 64-byte copy.
///
/// # Safety
/// As [`copy`], with `len >= LINE`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn copy_by_string_move(src: *const u8, dst: *mut u8, len: usize) {
    debug_assert!(len >= LINE);
    let head = dst.align_offset(LINE).min(LINE);
    // SAFETY: the caller's contract, len >= LINE >= head: the first LINE
    // bytes, then the rest from `head`, are inside both buffers. The
    // direction flag is clear on entry to Rust code, so the move runs
    // forward; it writes no flags and touches no stack.
    unsafe {
        if head != 0 {
            std::ptr::copy_nonoverlapping(src, dst, LINE);
        }
        std::arch::asm!(
            "rep movsb",
            inout("rsi") src.add(head) => _,
            inout("rdi") dst.add(head) => _,
            inout("rcx") len - head => _,
            options(nostack, preserves_flags),
        );
    }
}

/// A new `Vec` holding a copy of `src`, copied as [`copy`] does.
#[inline]
pub fn to_vec(src: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(src.len());
    // SAFETY: `v` has room for `src`, which the copy initializes whole
    // before the length is set.
    unsafe {
        copy(src.as_ptr(), v.as_mut_ptr(), src.len());
        v.set_len(src.len());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the narrow and piece boundaries, at odd
    /// offsets, arrives whole, with the bytes around it untouched, copied
    /// into shared memory or out of it.
    #[test]
    fn copies_every_length_whole() {
        type Way = unsafe fn(*const u8, *mut u8, usize);
        let src: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        for (what, way) in [("copy", copy as Way), ("copy_out", copy_out)] {
            for len in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 72, 100, NARROW - 1, NARROW]
                .into_iter()
                .chain([NARROW + 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE, 2 * PIECE + 13, 4093])
            {
                for off in [0, 1, 8, 63] {
                    let at = off + 1;
                    let mut dst = vec![0xeeu8; len + 2 * off + 2];
                    // SAFETY: both ranges lie inside their buffers.
                    unsafe { way(src[off..].as_ptr(), dst[at..].as_mut_ptr(), len) };
                    assert_eq!(&dst[at..at + len], &src[off..off + len], "{what}: len {len} off {off}");
                    assert_eq!(dst[off], 0xee, "{what}: byte before, len {len}");
                    assert_eq!(dst[at + len], 0xee, "{what}: byte after, len {len}");
                }
            }
        }
    }

    /// Each way of copying large messages, from and to every offset in a
    /// line, moves every byte and no other.
    #[test]
    fn large_copies_move_every_byte_at_every_alignment() {
        type Way = unsafe fn(*const u8, *mut u8, usize);
        let mut ways: Vec<(&str, Way)> = vec![("pieces", copy_pieces), ("chosen", copy_large)];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("ermsb") {
            ways.push(("rep movsb", copy_by_string_move));
        }
        let len = 3 * PIECE + 13;
        let src: Vec<u8> = (0..len + 2 * LINE).map(|i| (i * 31 + i / 251) as u8).collect();
        for (what, way) in ways {
            for (s_off, d_off) in (0..LINE).map(|d| (d * 7 % LINE, d)) {
                let mut dst = vec![0xeeu8; len + 2 * LINE + 2];
                let at = d_off + 1;
                // SAFETY: both ranges lie inside their buffers.
                unsafe { way(src[s_off..].as_ptr(), dst[at..].as_mut_ptr(), len) };
                assert_eq!(&dst[at..at + len], &src[s_off..s_off + len], "{what}: src +{s_off}, dst +{at}");
                assert!(dst[..at].iter().all(|&b| b == 0xee), "{what}: a byte before, dst +{at}");
                assert!(dst[at + len..].iter().all(|&b| b == 0xee), "{what}: a byte after, dst +{at}");
            }
        }
    }
}
