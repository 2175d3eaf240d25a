//! The server's module graph, checked on its sources (ARCHITECTURE.md,
//! "Architecture invariants"): no two modules of `server/src` name each
//! other, directly or through others, and no function is longer than 150
//! lines. The engine's own layering is checked in `engine/tests/it/layers.rs`.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_modules_name_each_other_in_a_circle() {
    // Every module is its own unit, one layer for all: only circles count.
    // The crate roots (lib.rs, main.rs) sit above, as they declare and
    // re-export the rest.
    let modules = annal_testdata::imports::read_crate(&src()).unwrap();
    let paths: Vec<String> = modules.iter().map(|m| m.path.clone()).collect();
    let layers: Vec<(&str, usize)> = paths.iter().map(|p| (p.as_str(), usize::from(p.is_empty()))).collect();
    let problems = annal_testdata::imports::check_layers(&src(), &layers).unwrap();
    assert!(problems.is_empty(), "the server's modules form a circle:\n{}", problems.join("\n"));
}

#[test]
fn no_function_is_longer_than_150_lines() {
    let long = annal_testdata::imports::long_functions(&src(), 150).unwrap();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}
