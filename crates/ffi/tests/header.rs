//! include/shmkit.h is generated from this crate by cbindgen (as a
//! library: no cbindgen binary is needed) and committed; this test fails
//! when the committed header is not what the source generates now.
//!
//! Write it anew with `SHMKIT_BLESS=1 cargo test -p shmkit-ffi --test header`.

use std::path::Path;

#[test]
fn the_committed_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("the header is UTF-8");
    let path = crate_dir.join("../../include/shmkit.h");
    if std::env::var_os("SHMKIT_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/shmkit.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed.lines().zip(fresh.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
        panic!(
            "include/shmkit.h is not current (first difference near line {line}); \
             regenerate it with SHMKIT_BLESS=1 cargo test -p shmkit-ffi --test header and commit it"
        );
    }
}
