//! Keras-trained networks, imported by `mobilenet-compiler import-keras` (the committed
//! `models/keras/*` outputs), against TensorFlow's own outputs (`fixtures/keras_*`, copied from
//! the shared reference cases): logits within 1e-4 with the same top-5, the stages TensorFlow
//! recorded within 1e-4 of their largest magnitude, on every ISA; and through the reference
//! interpreter, whose stages the compiled models match on every image (TensorFlow's logits
//! hardly depend on the input, so they alone would not show a wrong early layer).

use crate::models::*;
use mobilenet_compiler::{compile_file, reference};
use mobilenet_e2e::{le_f32s, max_abs, max_abs_diff, repo_root, top_k};
use mobilenet_runtime::{Isa, Padding};
use safetensors::SafeTensors;
use std::path::Path;

const TOL: f32 = 1e-4;

/// Tensors of a Keras fixture, by name.
fn tensors(case: &str) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(repo_root().join("fixtures").join(case).join("io.safetensors")).expect("fixture");
    let st = SafeTensors::deserialize(&bytes).expect("fixture is safetensors");
    st.tensors().into_iter().map(|(name, t)| (name, le_f32s(t.data()))).collect()
}

fn get<'a>(t: &'a [(String, Vec<f32>)], name: &str) -> &'a [f32] {
    &t.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("fixture lacks {name}")).1
}

fn assert_logits(got: &[f32], want: &[f32], what: &str) {
    let diff = max_abs_diff(got, want);
    assert!(diff <= TOL, "{what}: max |diff| {diff}");
    assert_eq!(top_k(got, 5), top_k(want, 5), "{what}: top-5");
}

/// Keras layers whose outputs the fixture holds, and the torchvision stage each one is.
const STAGES: [(&str, &str); 6] = [
    ("stage.Conv1_relu", "features.0"),
    ("stage.expanded_conv_project_BN", "features.1"),
    ("stage.block_2_add", "features.3"),
    ("stage.block_6_project_BN", "features.7"),
    ("stage.block_16_project_BN", "features.17"),
    ("stage.out_relu", "features.18"),
];

#[test]
fn keras_v2_matches_tensorflow() {
    assert_eq!(KerasV2::PADDING, Padding::Tf);
    let t = tensors("keras_v2_0.5_128_c10");
    let (inputs, logits) = (get(&t, "input_nhwc"), get(&t, "logits"));
    let image = KerasV2::INPUT_HEIGHT * KerasV2::INPUT_WIDTH * 3;
    let model = KerasV2::new();
    for isa in Isa::supported() {
        let mut arena = KerasV2::arena();
        assert!(arena.set_isa(isa));
        for (i, (x, want)) in inputs.chunks_exact(image).zip(logits.chunks_exact(KerasV2::NUM_CLASSES)).enumerate() {
            let mut got = [0.0f32; KerasV2::NUM_CLASSES];
            let mut stages = Vec::new();
            model
                .forward_inspect(&mut arena, x, &mut got, &mut |n: &str, _: [usize; 3], d: &[f32]| {
                    stages.push((n.to_string(), d.to_vec()))
                })
                .unwrap();
            assert_logits(&got, want, &format!("{isa:?} image {i}"));
            // The fixture's floats are 8-bit photos scaled the Keras way (x / 127.5 - 1), which
            // the importer writes into the spec as the 8-bit input's normalisation.
            let pixels: Vec<u8> = x.iter().map(|v| ((v + 1.0) * 127.5).round() as u8).collect();
            let mut from_pixels = [0.0f32; KerasV2::NUM_CLASSES];
            model.forward_rgb8(&mut arena, &pixels, &mut from_pixels).unwrap();
            assert_logits(&from_pixels, want, &format!("{isa:?} image {i}, 8-bit"));
            if i > 0 {
                continue;
            }
            for (keras, torch) in STAGES {
                let want = get(&t, keras);
                let got = &stages.iter().find(|(n, _)| n == torch).unwrap_or_else(|| panic!("no {torch}")).1;
                let (diff, scale) = (max_abs_diff(got, want), max_abs(want));
                assert!(diff <= TOL * scale.max(1e-3), "{isa:?} {keras} ({torch}): |diff| {diff} vs {scale}");
            }
        }
    }
}

#[test]
fn keras_finetuned_model_matches_tensorflow() {
    let t = tensors("keras_finetune_0.35_96_c5");
    let (inputs, logits, probs) = (get(&t, "input_nhwc"), get(&t, "logits"), get(&t, "probs"));
    let image = KerasFinetune::INPUT_HEIGHT * KerasFinetune::INPUT_WIDTH * 3;
    let model = KerasFinetune::new();
    let n = KerasFinetune::NUM_CLASSES;
    for isa in Isa::supported() {
        let mut arena = KerasFinetune::arena();
        assert!(arena.set_isa(isa));
        for (i, x) in inputs.chunks_exact(image).enumerate() {
            let mut got = [0.0f32; KerasFinetune::NUM_CLASSES];
            model.forward(&mut arena, x, &mut got).unwrap();
            assert_logits(&got, &logits[i * n..(i + 1) * n], &format!("{isa:?} image {i}"));
            // The model's softmax head, applied by hand, gives TensorFlow's probabilities.
            let m = got.iter().fold(f32::MIN, |a, &b| a.max(b));
            let sum: f32 = got.iter().map(|v| (v - m).exp()).sum();
            let p: Vec<f32> = got.iter().map(|v| (v - m).exp() / sum).collect();
            assert!(max_abs_diff(&p, &probs[i * n..(i + 1) * n]) <= TOL, "{isa:?} image {i}: probabilities");
        }
    }
}

/// The second oracle: the reference interpreter (direct loops, BatchNorm unfolded with Keras's
/// epsilon, TF padding from TensorFlow's definition) on the imported weights. TensorFlow's
/// logits hardly depend on the input (random weights and BatchNorm statistics: its four
/// photos' logits differ by at most 1.6e-7), so logits alone would pass a model that ignored
/// its input. Every stage therefore goes through the interpreter too, on every image: its
/// stages against TensorFlow's where the fixture has them (image 0 of `keras_v2`), and the
/// compiled model's stages against its, images that differ from the first stage on.
#[test]
fn reference_interpreter_matches_tensorflow_on_imported_weights() {
    macro_rules! check {
        ($model:ident, $spec:literal, $case:literal) => {{
            let compiled = compile_file(Path::new(env!("CARGO_MANIFEST_DIR")), $spec).unwrap();
            let net = &compiled.program.network;
            let weights =
                std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join($spec).with_file_name("weights.safetensors"))
                    .unwrap();
            // The importer's 8-bit normalisation is Keras's `x / 127.5 - 1`.
            assert_eq!(($model::INPUT_MEAN, $model::INPUT_STD), ([0.5; 3], [0.5; 3]));
            let t = tensors($case);
            let (inputs, logits) = (get(&t, "input_nhwc"), get(&t, "logits"));
            let model = $model::new();
            let mut arena = $model::arena();
            let mut first: Option<Vec<f32>> = None;
            for (i, x) in inputs.chunks_exact(net.input.len()).enumerate() {
                let out = reference::run(net, &weights, x).unwrap();
                let n = net.num_classes();
                assert_logits(&out.logits, &logits[i * n..(i + 1) * n], &format!("{} image {i}", $case));
                if i == 0 && t.iter().any(|(name, _)| name.starts_with("stage.")) {
                    for (keras, torch) in STAGES {
                        let want = get(&t, keras);
                        let got = &out.stages.iter().find(|s| s.0 == torch).unwrap().2;
                        let (diff, scale) = (max_abs_diff(got, want), max_abs(want));
                        assert!(
                            diff <= TOL * scale.max(1e-3),
                            "interpreter {keras} ({torch}): |diff| {diff} vs {scale}"
                        );
                    }
                }
                let mut stages = Vec::new();
                let mut got = vec![0.0f32; n];
                model
                    .forward_inspect(&mut arena, x, &mut got, &mut |name: &str, _: [usize; 3], d: &[f32]| {
                        stages.push((name.to_string(), d.to_vec()))
                    })
                    .unwrap();
                assert_eq!(stages.len(), out.stages.len(), "every stage is reported");
                for ((name, data), (want_name, _, want)) in stages.iter().zip(&out.stages) {
                    assert_eq!(name, want_name);
                    let (diff, scale) = (max_abs_diff(data, want), max_abs(want));
                    assert!(diff <= TOL * scale.max(1e-3), "{} image {i} {name}: |diff| {diff} vs {scale}", $case);
                }
                // The images differ where it matters: the first stage moves by far more than
                // the tolerance.
                let stem = &out.stages[0].2;
                match &first {
                    None => first = Some(stem.clone()),
                    Some(f) => assert!(max_abs_diff(f, stem) > 100.0 * TOL * max_abs(f), "{} image {i}", $case),
                }
            }
        }};
    }
    check!(KerasV2, "../models/keras/v2_0.5_128_c10/model.yaml", "keras_v2_0.5_128_c10");
    check!(KerasFinetune, "../models/keras/finetune_0.35_96_c5/model.yaml", "keras_finetune_0.35_96_c5");
}
