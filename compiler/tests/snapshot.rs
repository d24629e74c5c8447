//! Snapshot of the generated code for a tiny spec, formatted with prettyplease, so every change
//! to codegen shows up in review.

use mobilenet_compiler::codegen::{generate, Tracked};
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
    let tokens = generate(&program, None, None, &Tracked::default());
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
    let tokens = generate(&program, None, Some(&labels), &Tracked::default());
    let file: syn::File = syn::parse2(tokens).expect("generated code parses as a Rust file");
    insta::assert_snapshot!(prettyplease::unparse(&file));
}
