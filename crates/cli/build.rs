//! Compiles the C peer of `shmkit bench` (src/bench/c_peer.c, against
//! include/shmkit.h) into a static library linked into the `shmkit`
//! binary, beside the shmkit-ffi functions it calls. Without a working C
//! compiler the build still succeeds: the `shmkit_c_peer` cfg stays unset
//! and the C rows are skipped with a note.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shmkit_c_peer)");
    println!("cargo::rerun-if-changed=src/bench/c_peer.c");
    println!("cargo::rerun-if-changed=../../include/shmkit.h");
    let built = cc::Build::new()
        .file("src/bench/c_peer.c")
        .include("../../include")
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .opt_level(2)
        .cargo_warnings(false)
        .try_compile("shmkit_bench_c_peer");
    match built {
        Ok(()) => println!("cargo::rustc-cfg=shmkit_c_peer"),
        Err(e) => println!("cargo::warning=C peer of `shmkit bench` not built (the C rows will be skipped): {e}"),
    }
}
