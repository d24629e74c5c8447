//! Threads: `forward_parallel` gives bit-identical logits to `forward` for any thread count;
//! one model shared by several threads (each with its own arena) gives bit-identical results.

use crate::models::*;
use mobilenet_runtime::{Error, Isa, Threads};

fn image(len: usize, seed: u32) -> Vec<f32> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 20) as f32 / 2048.0 - 1.0).collect()
}

#[test]
fn forward_parallel_is_bit_identical_to_forward() {
    let model = MobileNetV2Tiny::new();
    let x = image(96 * 96 * 3, 1);
    for isa in Isa::supported() {
        let mut arena = MobileNetV2Tiny::arena();
        assert!(arena.set_isa(isa));
        let mut want = [0.0f32; 10];
        model.forward(&mut arena, &x, &mut want).unwrap();
        for n in 1..=4 {
            let mut threads = Threads::new(n);
            let mut arena = MobileNetV2Tiny::arena_for(&threads);
            assert!(arena.set_isa(isa));
            for _ in 0..3 {
                let mut got = [0.0f32; 10];
                model.forward_parallel(&mut threads, &mut arena, &x, &mut got).unwrap();
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{isa:?}, {n} threads");
            }
        }
    }
}

#[test]
fn wide_model_splits_rows_correctly() {
    // Width 1.4 at 40x56: blocks with few rows per thread, odd splits.
    let bytes = mobilenet_e2e::random_weights("specs/width14_nonsquare.yaml", 5);
    let model = Width14NonSquare::from_safetensors(&bytes).unwrap();
    let x = image(40 * 56 * 3, 2);
    let mut want = [0.0f32; 10];
    model.forward(&mut Width14NonSquare::arena(), &x, &mut want).unwrap();
    for n in [2, 3, 5] {
        let mut threads = Threads::new(n);
        let mut arena = Width14NonSquare::arena_for(&threads);
        let mut got = [0.0f32; 10];
        model.forward_parallel(&mut threads, &mut arena, &x, &mut got).unwrap();
        assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{n} threads");
    }
}

#[test]
fn single_thread_arena_is_refused_for_more_threads() {
    let model = MobileNetV2Tiny::new();
    let mut threads = Threads::new(2);
    let mut arena = MobileNetV2Tiny::arena();
    let mut out = [0.0f32; 10];
    let err = model.forward_parallel(&mut threads, &mut arena, &image(96 * 96 * 3, 0), &mut out).unwrap_err();
    assert!(matches!(err, Error::ArenaTooSmall { threads: 2, .. }), "{err}");
    assert_eq!(MobileNetV2Tiny::arena_for(&Threads::new(1)).bytes(), MobileNetV2Tiny::ARENA_BYTES);
}

#[test]
fn one_model_shared_by_threads_is_deterministic() {
    let model = MobileNetV2Tiny::new();
    let inputs: Vec<Vec<f32>> = (0..4).map(|s| image(96 * 96 * 3, s)).collect();
    let single: Vec<[f32; 10]> = inputs
        .iter()
        .map(|x| {
            let mut out = [0.0f32; 10];
            model.forward(&mut MobileNetV2Tiny::arena(), x, &mut out).unwrap();
            out
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (model, inputs, single) = (&model, &inputs, &single);
            s.spawn(move || {
                let mut arena = MobileNetV2Tiny::arena();
                for round in 0..20 {
                    let i = (t + round) % inputs.len();
                    let mut out = [0.0f32; 10];
                    model.forward(&mut arena, &inputs[i], &mut out).unwrap();
                    assert_eq!(out.map(f32::to_bits), single[i].map(f32::to_bits));
                }
            });
        }
    });
}
