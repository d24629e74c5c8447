//! `plan: memory` changes band heights only: a memory-planned model gives its speed-planned
//! twin's logits and `features.N` outputs bit for bit, on every kernel path, on 2 threads and in
//! a batch, from a smaller arena. Twins: torchvision's MobileNetV2 0.35-96 (its weights and
//! reference images; also against torchvision's logits), and a Keras-style network that takes
//! 8-bit frames (random weights; also against the reference interpreter).

use crate::models::*;
use mobilenet_compiler::{compile_file, reference};
use mobilenet_e2e::{input, load_fixture, max_abs, max_abs_diff, random_weights};
use mobilenet_runtime::{Isa, Threads};
use std::path::Path;

const TOL: f32 = 1e-4;

/// Everything a model computes for images `xs` (`forward_inspect` per image and ISA,
/// `forward_parallel` on 2 threads, `forward_batch`), each output named and as bits.
macro_rules! outputs {
    ($model:ident, $m:expr, $xs:expr) => {{
        let (m, xs): (&$model, &[f32]) = (&$m, $xs);
        let image = $model::INPUT_HEIGHT * $model::INPUT_WIDTH * 3;
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
        let mut out: Vec<(String, Vec<u32>)> = Vec::new();
        for isa in Isa::supported() {
            let mut arena = $model::arena();
            assert!(arena.set_isa(isa));
            for (i, x) in xs.chunks_exact(image).enumerate() {
                let mut logits = [0.0f32; $model::NUM_CLASSES];
                m.forward_inspect(&mut arena, x, &mut logits, &mut |name: &str, _: [usize; 3], d: &[f32]| {
                    out.push((format!("{isa:?} image {i} {name}"), bits(d)))
                })
                .unwrap();
                out.push((format!("{isa:?} image {i} logits"), bits(&logits)));
            }
            let mut threads = Threads::new(2);
            let mut arena = $model::arena_for(&threads);
            assert!(arena.set_isa(isa));
            for (i, x) in xs.chunks_exact(image).enumerate() {
                let mut logits = [0.0f32; $model::NUM_CLASSES];
                m.forward_parallel(&mut threads, &mut arena, x, &mut logits).unwrap();
                out.push((format!("{isa:?} image {i} logits, 2 threads"), bits(&logits)));
            }
            let images = xs.len() / image;
            let mut arena = $model::arena_batch(images);
            assert!(arena.set_isa(isa));
            let mut logits = vec![0.0f32; images * $model::NUM_CLASSES];
            m.forward_batch(&mut arena, xs, &mut logits).unwrap();
            out.push((format!("{isa:?} logits, batch of {images}"), bits(&logits)));
        }
        out
    }};
}

fn assert_same_bits(speed: &[(String, Vec<u32>)], memory: &[(String, Vec<u32>)]) {
    assert_eq!(speed.len(), memory.len());
    for ((name, s), (mname, m)) in speed.iter().zip(memory) {
        assert_eq!(name, mname);
        let differ = s.iter().zip(m).filter(|(a, b)| a != b).count();
        assert!(s.len() == m.len() && differ == 0, "{name}: {differ} of {} values differ", s.len());
    }
}

#[test]
fn torchvision_0_35_96_memory_plan_is_bit_identical_in_a_fifth_of_the_arena() {
    assert_eq!((MobileNetV2Tiny::ARENA_BYTES, MobileNetV2TinyMemory::ARENA_BYTES), (608_256, 55_296));
    const { assert!(MobileNetV2TinyMemory::THREAD_SCRATCH_BYTES <= MobileNetV2Tiny::THREAD_SCRATCH_BYTES) };
    let fx = load_fixture("v2_0.35_96_c10");
    let (speed, memory) = (MobileNetV2Tiny::new(), MobileNetV2TinyMemory::new());
    let want = outputs!(MobileNetV2Tiny, speed, &fx.input_nhwc);
    let got = outputs!(MobileNetV2TinyMemory, memory, &fx.input_nhwc);
    assert_same_bits(&want, &got);
    // And so as close to torchvision as the speed plan.
    let image = MobileNetV2TinyMemory::INPUT_HEIGHT * MobileNetV2TinyMemory::INPUT_WIDTH * 3;
    let mut arena = MobileNetV2TinyMemory::arena();
    for (i, x) in fx.input_nhwc.chunks_exact(image).enumerate() {
        let mut logits = [0.0f32; MobileNetV2TinyMemory::NUM_CLASSES];
        memory.forward(&mut arena, x, &mut logits).unwrap();
        let diff = max_abs_diff(&logits, &fx.logits[i * logits.len()..(i + 1) * logits.len()]);
        assert!(diff <= TOL, "image {i}: logits max |diff| {diff} > {TOL}");
    }
}

#[test]
fn rgb8_memory_plan_is_bit_identical_and_matches_the_reference() {
    assert_eq!((TfRgb8::ARENA_BYTES, TfRgb8Memory::ARENA_BYTES), (181_440, 107_520));
    let weights = random_weights("specs/tf_rgb8.yaml", 5);
    let (speed, memory) =
        (TfRgb8::from_safetensors(&weights).unwrap(), TfRgb8Memory::from_safetensors(&weights).unwrap());
    let image = TfRgb8::INPUT_HEIGHT * TfRgb8::INPUT_WIDTH * 3;
    let xs = input(2 * image, 7);
    assert_same_bits(&outputs!(TfRgb8, speed, &xs), &outputs!(TfRgb8Memory, memory, &xs));

    // 8-bit frames: the image staged in the arena, now a smaller one.
    let pixels: Vec<u8> = (0..image as u64).map(|i| ((i * 2_654_435_761) >> 7) as u8).collect();
    for isa in Isa::supported() {
        let (mut a, mut b) = (TfRgb8::arena(), TfRgb8Memory::arena());
        assert!(a.set_isa(isa) && b.set_isa(isa));
        let (mut want, mut got) = ([0.0f32; 4], [0.0f32; 4]);
        speed.forward_rgb8(&mut a, &pixels, &mut want).unwrap();
        memory.forward_rgb8(&mut b, &pixels, &mut got).unwrap();
        assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{isa:?}");
        let mut threads = Threads::new(2);
        let mut b = TfRgb8Memory::arena_for(&threads);
        assert!(b.set_isa(isa));
        memory.forward_parallel_rgb8(&mut threads, &mut b, &pixels, &mut got).unwrap();
        assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{isa:?}, 2 threads");
    }

    // Against the reference interpreter, as the other variants are.
    let compiled = compile_file(Path::new(env!("CARGO_MANIFEST_DIR")), "specs/tf_rgb8_memory.yaml").unwrap();
    let net = &compiled.program.network;
    let x = &xs[..image];
    let want = reference::run(net, &weights, x).unwrap();
    let mut arena = TfRgb8Memory::arena();
    let mut logits = [0.0f32; TfRgb8Memory::NUM_CLASSES];
    let mut stages = Vec::new();
    memory
        .forward_inspect(&mut arena, x, &mut logits, &mut |n: &str, s: [usize; 3], d: &[f32]| {
            stages.push((n.to_string(), s, d.to_vec()))
        })
        .unwrap();
    assert_eq!(stages.len(), want.stages.len());
    for ((name, shape, got), (wname, wshape, wdata)) in stages.iter().zip(&want.stages) {
        assert_eq!((name, shape), (wname, wshape));
        let (diff, scale) = (max_abs_diff(got, wdata), max_abs(wdata));
        assert!(diff <= TOL * scale.max(1e-3), "{name}: |diff| {diff} vs max magnitude {scale}");
    }
    let (diff, scale) = (max_abs_diff(&logits, &want.logits), max_abs(&want.logits));
    assert!(diff <= TOL * scale.max(1e-3), "logits: |diff| {diff} vs max magnitude {scale}");
}
