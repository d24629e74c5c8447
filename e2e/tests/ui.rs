//! Compile-fail tests: each bad spec must give a `compile_error!` on the macro's literal that
//! names `file:line:col` and the fix. The expected messages are checked in next to each case.

use std::path::{Path, PathBuf};

/// trybuild compiles the cases in its own crate under the target directory, so
/// `CARGO_MANIFEST_DIR` there is that crate: copy the specs (and a weights file) beside it.
fn stage_specs() {
    let dest: PathBuf = target_dir().join("tests").join("trybuild").join("mobilenet-e2e").join("specs");
    std::fs::create_dir_all(&dest).expect("create trybuild specs dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/specs");
    for entry in std::fs::read_dir(&src).expect("specs dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dest.join(path.file_name().expect("name"))).expect("copy spec");
    }
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/v2_0.35_96_c10.safetensors");
    std::fs::copy(tiny, dest.join("tiny.safetensors")).expect("copy weights");
}

/// The target directory as trybuild finds it (`cargo metadata`): with `--target`, the test
/// binary's own `CARGO_TARGET_TMPDIR` lies one level further down, under the triple.
fn target_dir() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version=1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    let json = String::from_utf8(out.stdout).expect("cargo metadata prints UTF-8");
    let key = "\"target_directory\":\"";
    let start = json.find(key).expect("cargo metadata names the target directory") + key.len();
    let end = start + json[start..].find('"').expect("a closing quote");
    PathBuf::from(json[start..end].replace("\\\\", "\\"))
}

#[test]
fn bad_specs_fail_to_compile_with_located_messages() {
    stage_specs();
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
