//! Tidy: habits of the code base checked as tests, in rust-analyzer's manner
//! (`cargo test -p xtask`, which `cargo xtask test` runs first).
//!
//! - every Rust file (module) starts with a `//!` doc that says its job;
//! - no file is over 800 lines (split it by noun);
//! - no `todo!` or `dbg!` is left in.

use std::path::{Path, PathBuf};

/// Longest a Rust file may be.
const MAX_LINES: usize = 800;

/// The crates whose sources tidy reads.
const CRATES: &[&str] = &["app", "e2e", "protocol", "server", "storage", "xtask"];

/// Every `.rs` file of the workspace's crates, but for build output.
fn rust_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned();
    let mut files = Vec::new();
    let mut dirs: Vec<PathBuf> = CRATES.iter().map(|c| root.join(c)).collect();
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 20, "tidy found too few files: {files:?}");
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fails with every offending file, not just the first.
fn check(what: &str, offenders: Vec<String>) {
    assert!(
        offenders.is_empty(),
        "{what}:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn every_module_says_its_job() {
    let offenders = rust_files()
        .into_iter()
        .filter(|path| !read(path).trim_start().starts_with("//!"))
        .map(|path| format!("{}: start it with a `//!` doc", path.display()))
        .collect();
    check("modules without a doc", offenders);
}

#[test]
fn no_file_is_too_long() {
    let offenders = rust_files()
        .into_iter()
        .filter_map(|path| {
            let n = read(&path).lines().count();
            (n > MAX_LINES).then(|| format!("{}: {n} lines (at most {MAX_LINES})", path.display()))
        })
        .collect();
    check("files too long", offenders);
}

#[test]
fn no_todo_or_dbg() {
    // Spelled in two parts, so that this file does not find itself.
    let markers = [concat!("todo", "!("), concat!("dbg", "!(")];
    let mut offenders = Vec::new();
    for path in rust_files() {
        for (n, line) in read(&path).lines().enumerate() {
            if markers.iter().any(|m| line.contains(m)) {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    check("todo! or dbg! left in", offenders);
}
