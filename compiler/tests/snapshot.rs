//! Snapshot of the generated code for a tiny spec, formatted with prettyplease, so every change
//! to codegen shows up in review.

use mobilenet_compiler::codegen::{generate, Baked, Target, Tracked};
use mobilenet_compiler::compile_str;

const TINY: &str = "\
name: Tiny
resolution: [9, 7]
width_mult: 0.25
num_classes: 3
round_nearest: 4
inverted_residual_setting:
  - [1, 8, 1, 1]
  - [2, 8, 2, 2]
";

#[test]
fn tiny_spec_generated_code() {
    let program = compile_str("tiny.yaml", TINY).unwrap();
    let tokens = generate(&program, None, None, &Tracked::default(), Target::STD);
    let file: syn::File = syn::parse2(tokens).expect("generated code parses as a Rust file");
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

/// The same network as a Keras-trained model that takes 8-bit frames: TF padding in the block
/// shapes and the unfused stem, the staged image, `forward_rgb8`, labels.
#[test]
fn tiny_keras_rgb8_spec_generated_code() {
    let text = format!(
        "{}padding: tf\nbn_eps: 0.001\ninput: {{format: rgb8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}\n",
        TINY.replace("[1, 8, 1, 1]", "[2, 8, 1, 1]")
    );
    let program = compile_str("tiny_keras.yaml", &text).unwrap();
    let labels = ["cat".to_string(), "dog".into(), "bird".into()];
    let tokens = generate(&program, None, Some(&labels), &Tracked::default(), Target::STD);
    let file: syn::File = syn::parse2(tokens).expect("generated code parses as a Rust file");
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

/// Without the runtime's `std`: only baked weights and the caller's-buffer entry points, nothing
/// that names a heap arena, threads, the weight loader or the allocating inspector; a guard
/// against big-endian targets (the baked floats are read in place); and a spec without weights
/// is a compile error rather than a type nothing can construct.
#[test]
fn no_std_code_uses_only_what_no_std_has() {
    let text = format!("{TINY}input: {{format: rgb8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}\n");
    let program = compile_str("tiny.yaml", &text).unwrap();
    let baked = vec![0.0f32; program.params.total];
    let code = generate(&program, Some(Baked::F32(&baked)), None, &Tracked::default(), Target::NO_STD).to_string();
    syn::parse_file(&code).expect("generated code parses as a Rust file");
    for present in ["fn new", "fn forward_in", "fn forward_rgb8_in", "buffer_floats", "Cpu :: detected"] {
        assert!(code.contains(present), "no_std code lacks `{present}`");
    }
    for absent in [
        "mobilenet_runtime :: Arena ",
        "parts_for",
        "mobilenet_runtime :: Threads",
        "load_params",
        "stem_output",
        "forward_batch",
        "names no `weights`",
    ] {
        assert!(!code.contains(absent), "no_std code names `{absent}`");
    }
    // Baked f32 weights are borrowed in place without `std`: a big-endian target is refused.
    assert!(code.contains("cfg (target_endian = \"big\")") && code.contains("need a little-endian target"));
    let std_code = generate(&program, Some(Baked::F32(&baked)), None, &Tracked::default(), Target::STD).to_string();
    assert!(std_code.contains("fn forward_in") && std_code.contains("Arena") && std_code.contains("stem_output"));

    let unbaked = generate(&program, None, None, &Tracked::default(), Target::NO_STD).to_string();
    assert!(unbaked.contains("compile_error"), "a no_std model without weights must not compile");
    assert!(unbaked.contains("names no `weights`"));
}

/// An int8 model: int8 entry points over the packed blob, no weight loader (its ranges were
/// calibrated for the baked weights), a little-endian guard; without `std`, nothing that
/// allocates (the dequantizing inspector).
#[test]
fn int8_code_runs_the_int8_kernels() {
    use mobilenet_compiler::codegen::Int8;
    use mobilenet_compiler::init_weights::init_weights;
    use mobilenet_compiler::quantize::{pack::pack, quantize};
    let text = format!("{TINY}input: {{format: rgb8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}\n");
    let program = compile_str("tiny.yaml", &text).unwrap();
    let weights = init_weights(&program.network, 1);
    let images: Vec<f32> = (0..2 * program.network.input.len()).map(|i| (i % 13) as f32 / 6.0 - 1.0).collect();
    let q = quantize(&program, &weights, &images, 2).unwrap();
    let packed = pack(&q);
    let baked = || Some(Baked::Int8(Int8 { q: &q, packed: &packed }));
    let code = generate(&program, baked(), None, &Tracked::default(), Target::STD).to_string();
    syn::parse_file(&code).expect("generated code parses as a Rust file");
    for present in
        ["par_block8", "par_linear8", "avg_pool8", "quantize_rgb8", "bytes_mut", "target_endian", "dequantize"]
    {
        assert!(code.contains(present), "int8 code lacks `{present}`");
    }
    for absent in ["from_safetensors", "load_params", "par_block ::", "normalize_rgb8", "PARAM_FLOATS"] {
        assert!(!code.contains(absent), "int8 code names `{absent}`");
    }
    let no_std = generate(&program, baked(), None, &Tracked::default(), Target::NO_STD).to_string();
    syn::parse_file(&no_std).expect("generated code parses as a Rust file");
    assert!(no_std.contains("fn forward_in") && no_std.contains("par_block8"));
    for absent in ["dequantize", "stem8_output", "Threads ::", "forward_batch"] {
        assert!(!no_std.contains(absent), "no_std int8 code names `{absent}`");
    }
}
