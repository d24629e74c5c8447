//! Replays the fuzz seed corpus (`fuzz/corpus/`) through the fuzz targets' bodies, so every input
//! that once crashed stays fixed without a fuzzing engine.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
        n += 1;
    }
    assert!(n >= 5, "{target}: corpus has only {n} inputs");
}

#[test]
fn spec_corpus_compiles_or_fails_with_a_location() {
    replay("spec", mobilenet_compiler::fuzzing::spec);
}

#[test]
fn safetensors_corpus_loads_or_fails_cleanly() {
    replay("safetensors", mobilenet_compiler::fuzzing::safetensors);
}
