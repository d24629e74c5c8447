//! The bodies of the fuzz targets (`fuzz/`), here so the seed corpus also replays as a normal
//! test (`compiler/tests/fuzz_corpus.rs`) without a fuzzing engine.

use crate::passes::plan_arena;

/// Arbitrary bytes as a spec: `Ok` (with a valid memory plan) or an error located in the spec.
/// Panics only if the compiler breaks that contract.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match crate::compile_str("fuzz.yaml", text) {
        Ok(program) => {
            plan_arena::verify(&program.arena).expect("a valid memory plan");
            assert!(program.arena.size as f64 <= program.arena.lower_bound as f64 * 1.05 + 16.0);
            assert_eq!(program.schedule.buffers.len(), program.arena.placements.len());
        }
        Err(e) => {
            let loc = e.location.as_ref().expect("spec errors carry a location");
            assert!(loc.line >= 1 && loc.column >= 1, "{e}");
            assert!(!e.message.is_empty());
        }
    }
}

/// The small network `safetensors` loads weights for.
pub const SAFETENSORS_SPEC: &str =
    "name: F\nresolution: 8\nwidth_mult: 0.25\nnum_classes: 3\nlast_channel: 16\ninverted_residual_setting: [[1, 8, 1, 1], [2, 8, 1, 2]]\n";

/// Arbitrary bytes as a weights file for `SAFETENSORS_SPEC`: `Ok` or `Err`, never a panic.
pub fn safetensors(data: &[u8]) {
    let program = crate::compile_str("fuzz.yaml", SAFETENSORS_SPEC).expect("the fuzz spec compiles");
    let layers = program.params.loader_layers();
    if let Ok(params) = mobilenet_kernels::load_params(data, &layers, program.params.total, program.params.bn_eps) {
        assert_eq!(params.len(), program.params.total);
    }
}
