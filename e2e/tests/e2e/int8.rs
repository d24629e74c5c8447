//! int8 models (`precision: int8`), generated and compiled as users compile them: the trained
//! digits model against the int8 reference interpreter (the same quantization, recomputed here
//! by the compiler library), logits bit for bit and every stage's levels, and on the 360-image
//! test split against PyTorch's float predictions; every entry point (`forward_parallel` on 2
//! and 3 threads, `forward_batch`, `forward_in`, `forward_inspect`) and every ISA setting gives
//! the same bits; 8-bit frames through an int8 model with an unfused stem and TF padding.

use crate::models::*;
use mobilenet_compiler::compile_file;
use mobilenet_compiler::quantize::{interpreter, QuantizedNetwork};
use mobilenet_e2e::{le_f32s, repo_root, top_k};
use mobilenet_runtime::{ArenaBuffer, Error, Isa, Threads};

const K: usize = DigitsNetInt8::NUM_CLASSES;
const IMAGE_LEN: usize = DigitsNetInt8::INPUT_HEIGHT * DigitsNetInt8::INPUT_WIDTH * 3;

/// The quantization the macro baked into a model, recomputed from its spec.
fn quantized(spec: &str) -> QuantizedNetwork {
    let compiled = compile_file(&repo_root().join("e2e"), spec).expect("the spec compiles");
    compiled.int8.expect("an int8 spec").0
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `input_nhwc`, `labels` and PyTorch's float `logits` of the digits test split.
fn test_split() -> (Vec<f32>, Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(repo_root().join("fixtures/digits/test.safetensors")).expect("fixture");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("fixture is safetensors");
    let labels = st.tensor("labels").expect("labels").data().chunks_exact(8);
    let labels = labels.map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize).collect();
    (le_f32s(st.tensor("input_nhwc").unwrap().data()), labels, le_f32s(st.tensor("logits").unwrap().data()))
}

#[test]
fn digits_int8_agrees_with_pytorch_on_the_test_split() {
    let (inputs, labels, float) = test_split();
    let model = DigitsNetInt8::new();
    let mut arena = DigitsNetInt8::arena();
    let (mut agree, mut right, mut right_float) = (0, 0, 0);
    for (i, x) in inputs.chunks_exact(IMAGE_LEN).enumerate() {
        let mut logits = [0.0f32; K];
        model.forward(&mut arena, x, &mut logits).unwrap();
        let (p8, pf) = (top_k(&logits, 1)[0], top_k(&float[i * K..(i + 1) * K], 1)[0]);
        agree += usize::from(p8 == pf);
        right += usize::from(p8 == labels[i]);
        right_float += usize::from(pf == labels[i]);
    }
    let n = labels.len();
    assert_eq!((n, right_float), (360, 358));
    assert!(agree * 100 >= n * 99, "top-1 agreement with float {agree}/{n} is under 99%");
    assert!(
        right_float.saturating_sub(right) * 100 <= n,
        "int8 accuracy {right}/{n} is more than 1 point under float's"
    );
}

#[test]
fn digits_int8_is_the_interpreter_bit_for_bit() {
    let q = quantized("../models/digits/int8.yaml");
    let (inputs, _, _) = test_split();
    let model = DigitsNetInt8::new();
    let mut arena = DigitsNetInt8::arena();
    for x in inputs.chunks_exact(IMAGE_LEN).step_by(9) {
        let want = interpreter::run(&q, x).unwrap();
        let mut logits = [0.0f32; K];
        model.forward(&mut arena, x, &mut logits).unwrap();
        assert_eq!(bits(&logits), bits(&want.logits));
        let mut seen = Vec::new();
        model
            .forward_inspect(&mut arena, x, &mut logits, &mut |name, shape, data| {
                seen.push((name.to_string(), shape, data.to_vec()))
            })
            .unwrap();
        assert_eq!(seen.len(), want.stages.len(), "every stage is reported");
        for ((name, shape, data), (want_name, want_shape, levels, params)) in seen.iter().zip(&want.stages) {
            assert_eq!((name, shape), (want_name, want_shape));
            let dequantized: Vec<f32> = levels.iter().map(|&l| params.dequantize(l)).collect();
            assert_eq!(bits(data), bits(&dequantized), "{name}");
        }
    }
}

#[test]
fn digits_int8_entry_points_and_isas_agree() {
    let (inputs, _, _) = test_split();
    let inputs = &inputs[..8 * IMAGE_LEN];
    let model = DigitsNetInt8::new();
    let mut arena = DigitsNetInt8::arena();
    let mut want = vec![0.0f32; 8 * K];
    for (x, out) in inputs.chunks_exact(IMAGE_LEN).zip(want.chunks_exact_mut(K)) {
        model.forward(&mut arena, x, out).unwrap();
    }
    // Every int8 path: each ISA with VNNI and AMX, VNNI only, neither.
    let choices = [(true, true), (true, false), (false, false)];
    // And both kernel forms: shape-constant instances and the run-time-shaped ones.
    for (isa, (vnni, amx)) in Isa::supported().into_iter().flat_map(|isa| choices.map(|c| (isa, c))) {
        for (n, specialized) in [(2, true), (3, true), (2, false)] {
            let mut threads = Threads::new(n);
            let mut par = DigitsNetInt8::arena_for(&threads);
            assert!(par.set_isa(isa));
            par.set_vnni(vnni);
            par.set_amx(amx);
            par.set_specialized(specialized);
            let mut got = vec![0.0f32; 8 * K];
            for (x, out) in inputs.chunks_exact(IMAGE_LEN).zip(got.chunks_exact_mut(K)) {
                model.forward_parallel(&mut threads, &mut par, x, out).unwrap();
            }
            assert_eq!(
                bits(&got),
                bits(&want),
                "{isa:?}, VNNI {vnni}, AMX {amx}, {n} threads, specialized {specialized}"
            );
        }
    }
    let mut batch_arena = DigitsNetInt8::arena_batch(8);
    let mut got = vec![0.0f32; 8 * K];
    model.forward_batch(&mut batch_arena, inputs, &mut got).unwrap();
    assert_eq!(bits(&got), bits(&want), "forward_batch");
    let mut buffer = Box::new(ArenaBuffer::<{ DigitsNetInt8::ARENA_BYTES }>::new());
    let mut logits = [0.0f32; K];
    model.forward_in(&mut buffer[..], &inputs[..IMAGE_LEN], &mut logits).unwrap();
    assert_eq!(bits(&logits), bits(&want[..K]), "forward_in");
    let err = model.forward(&mut arena, &inputs[..IMAGE_LEN - 1], &mut logits).unwrap_err();
    assert_eq!(err, Error::InputLength { expected: IMAGE_LEN, found: IMAGE_LEN - 1 });
}

#[test]
fn int8_arena_is_the_f32_plan_in_bytes() {
    // The same schedule and plan, one byte an activation (rounded up to whole floats).
    assert_eq!(DigitsNetInt8::ARENA_BYTES, (DigitsNet::ARENA_BYTES / 4).next_multiple_of(4));
    assert_eq!(DigitsNetInt8::THREAD_SCRATCH_BYTES, (DigitsNet::THREAD_SCRATCH_BYTES / 4).next_multiple_of(4));
}

#[test]
fn rgb8_frames_through_an_int8_model() {
    let q = quantized("specs/tf_rgb8_int8.yaml");
    let model = TfRgb8Int8::new();
    let len = TfRgb8Int8::INPUT_HEIGHT * TfRgb8Int8::INPUT_WIDTH * 3;
    let (scale, bias) = ((1.0 / (255.0 * 0.5f64)) as f32, -1.0f32);
    for seed in [1u64, 2] {
        let px: Vec<u8> = (0..len as u64).map(|i| ((i * 2_654_435_761 + seed * 97) >> 7) as u8).collect();
        // The normalisation `forward_rgb8` applies, as one fused multiply-add.
        let x: Vec<f32> = px.iter().map(|&p| f32::from(p).mul_add(scale, bias)).collect();
        let want = interpreter::run(&q, &x).unwrap().logits;
        let mut arena = TfRgb8Int8::arena();
        let mut got = [0.0f32; TfRgb8Int8::NUM_CLASSES];
        model.forward_rgb8(&mut arena, &px, &mut got).unwrap();
        assert_eq!(bits(&got), bits(&want), "forward_rgb8");
        model.forward(&mut arena, &x, &mut got).unwrap();
        assert_eq!(bits(&got), bits(&want), "forward");
        let mut threads = Threads::new(3);
        let mut par = TfRgb8Int8::arena_for(&threads);
        model.forward_parallel_rgb8(&mut threads, &mut par, &px, &mut got).unwrap();
        assert_eq!(bits(&got), bits(&want), "forward_parallel_rgb8");
        let err = model.forward_rgb8(&mut arena, &px[1..], &mut got).unwrap_err();
        assert_eq!(err, Error::PixelsLength { expected: len, found: len - 1 });
    }
}
