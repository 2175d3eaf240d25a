//! The engine's layering, checked on its sources (ARCHITECTURE.md,
//! "Architecture invariants"): imports only go down — format → storage →
//! core → features → façade — no modules name each other in a circle, and
//! only the storage seam names RocksDB.

use std::path::Path;

/// Every module of `engine/src` and its layer. A new file must be placed
/// here: the test fails for a module in no layer.
const LAYERS: &[(&str, usize)] = &[
    // 0: format — every stored and hashed byte, no I/O.
    ("error", 0),
    ("canonical_json", 0),
    ("redact", 0),
    ("event", 0),
    ("format", 0),
    ("format::apikey", 0),
    ("format::chain", 0),
    ("format::checkpoint", 0),
    ("format::cipher", 0),
    ("format::content", 0),
    ("format::index", 0),
    ("format::json", 0),
    ("format::keys", 0),
    ("format::record", 0),
    ("format::retention", 0),
    ("format::tenant", 0),
    // 1: the storage seam.
    ("storage", 1),
    ("keyring", 1),
    // 2: the core.
    ("core", 2),
    // 3: features; among themselves a tree, which the cycle check keeps so.
    ("query", 3),
    ("summary", 3),
    ("access", 3),
    ("verify", 3),
    ("apikeys", 3),
    ("policy", 3),
    ("encryption", 3),
    ("erasure", 3),
    ("checkpoint", 3),
    ("retention", 3),
    // 4: the façade, the crate root included.
    ("engine", 4),
    ("builder", 4),
    ("daemons", 4),
    ("backup", 4),
    ("", 4),
];

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn imports_only_go_down_and_form_no_circle() {
    let problems = annal_testdata::imports::check_layers(&src(), LAYERS).unwrap();
    assert!(problems.is_empty(), "the engine's layering is broken:\n{}", problems.join("\n"));
}

#[test]
fn only_the_storage_seam_names_rocksdb() {
    for m in annal_testdata::imports::read_crate(&src()).unwrap() {
        if m.path == "storage" || m.path.starts_with("storage::") {
            continue;
        }
        let code = annal_testdata::imports::blank(&std::fs::read_to_string(src().join(&m.file)).unwrap());
        assert!(!code.contains("rocksdb"), "src/{} names rocksdb; only src/storage/ may", m.file.display());
    }
}

#[test]
fn the_check_catches_an_upward_import_and_a_circle() {
    // The same check on a small crate written to break both rules, so a
    // checker that had stopped reading imports would fail here.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("format")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod format;\nmod feat;\nmod top;\npub use top::Top;\n").unwrap();
    std::fs::write(src.join("format/mod.rs"), "pub mod a;\n").unwrap();
    // Through the root's re-export, which must not hide where `Top` lives.
    std::fs::write(src.join("format/a.rs"), "use crate::Top;\npub struct A;\n").unwrap();
    std::fs::write(src.join("top.rs"), "pub struct Top;\n").unwrap();
    std::fs::write(src.join("feat.rs"), "use crate::{format::a::A, other::B};\npub struct Thing;\n").unwrap();
    std::fs::write(src.join("other.rs"), "use super::feat::Thing;\npub struct B;\n").unwrap();
    let layers = [("format", 0), ("format::a", 0), ("feat", 1), ("other", 1), ("top", 2), ("", 2)];
    let problems = annal_testdata::imports::check_layers(src, &layers).unwrap();
    assert!(problems.iter().any(|p| p.contains("src/format/a.rs") && p.contains("crate::top::Top")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("circle") && p.contains("feat") && p.contains("other")), "{problems:?}");
    std::fs::write(src.join("new.rs"), "").unwrap();
    let problems = annal_testdata::imports::check_layers(src, &layers).unwrap();
    assert!(problems.iter().any(|p| p.contains("src/new.rs is in no layer")), "{problems:?}");
}

#[test]
fn the_code_map_names_every_module_and_only_modules_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let lines: Vec<&str> = map.lines().filter(|l| l.starts_with("| `engine/src/")).collect();
    // Every path the map names exists.
    for line in &lines {
        for path in line.split('`').skip(1).step_by(2).filter(|p| p.starts_with("engine/src/")) {
            assert!(root.join(path).exists(), "ARCHITECTURE.md names {path}, which does not exist");
        }
    }
    // Every file is named: by its path, or by its name on the row of its
    // directory (a directory's `mod.rs` by the directory's row alone).
    for m in annal_testdata::imports::read_crate(&src()).unwrap() {
        let file = m.file.to_string_lossy().replace('\\', "/");
        let full = format!("engine/src/{file}");
        let (dir, name) = full.rsplit_once('/').unwrap();
        let named = lines.iter().any(|l| {
            let on_dir_row = l.contains(&format!("`{dir}/"));
            l.contains(&format!("`{full}`")) || (on_dir_row && (name == "mod.rs" || l.contains(&format!("`{name}`"))))
        });
        assert!(named, "ARCHITECTURE.md's code map does not name {full}");
    }
}

#[test]
fn no_function_is_longer_than_150_lines() {
    let long = annal_testdata::imports::long_functions(&src(), 150).unwrap();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}
