//! The checked-in header `include/esreplay_tap.h` is what cbindgen generates
//! from the sources now. After changing the API, regenerate it with
//! `ESREPLAY_BLESS=1 cargo test -p esreplay-tap-c --test header`.

use std::path::Path;

#[test]
fn checked_in_header_matches_the_generated_one() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = crate_dir.join("include/esreplay_tap.h");
    if std::env::var_os("ESREPLAY_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is stale: regenerate it with ESREPLAY_BLESS=1 cargo test -p esreplay-tap-c --test header",
        path.display()
    );
}
