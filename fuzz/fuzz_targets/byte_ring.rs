//! Feeds arbitrary bytes as a byte ring's state — head and tail indices,
//! record headers, padding, contents — to the receive and send paths
//! (`shmkit::queue::fuzz_byte_ring`). A corrupted or hostile segment must
//! give `Corrupt` errors or empty/full answers, never a panic, an
//! out-of-bounds access or an endless loop.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shmkit::queue::fuzz_byte_ring(data);
});
