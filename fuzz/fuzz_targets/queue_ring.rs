//! Feeds arbitrary bytes as a queue's ring state — head and tail indices,
//! slot state words, contents — to the send and receive paths
//! (`shmkit::queue::fuzz_ring`). A corrupted or hostile segment must give
//! errors or empty/full answers, never a panic, an out-of-bounds access or
//! an endless loop.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shmkit::queue::fuzz_ring(data);
});
