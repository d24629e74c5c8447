//! The public contract of generated code: constants, errors, arena ownership, thread traits.

use crate::models::*;
use mobilenet_e2e::repo_root;
use mobilenet_runtime::{ArenaBuffer, Error};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn models_are_send_and_sync() {
    assert_send_sync::<MobileNetV2Tiny>();
    assert_send_sync::<OddNonSquare>();
    assert_send_sync::<mobilenet_runtime::Arena>();
}

#[test]
fn wrong_lengths_are_errors() {
    let model = MobileNetV2Tiny::new();
    let mut arena = MobileNetV2Tiny::arena();
    let input = vec![0.1f32; 96 * 96 * 3];
    let mut logits = [0.0f32; 10];
    assert_eq!(
        model.forward(&mut arena, &input[1..], &mut logits),
        Err(Error::InputLength { expected: 27648, found: 27647 })
    );
    assert_eq!(
        model.forward(&mut arena, &input, &mut logits[..9]),
        Err(Error::OutputLength { expected: 10, found: 9 })
    );
    assert!(model.forward(&mut arena, &input, &mut logits).is_ok());
}

/// `forward_in` (the no_std entry point) checks the caller's buffer: too small or not
/// f32-aligned is an `Err`; a larger or merely 4-byte aligned one works, bit for bit like `forward`.
#[test]
fn caller_buffers_are_checked() {
    let model = MobileNetV2Tiny::new();
    let input = mobilenet_e2e::input(96 * 96 * 3, 7);
    let (mut want, mut got) = ([0.0f32; 10], [0.0f32; 10]);
    model.forward(&mut MobileNetV2Tiny::arena(), &input, &mut want).unwrap();
    let bytes = MobileNetV2Tiny::ARENA_BYTES;
    let mut buffer = Box::new(ArenaBuffer::<{ MobileNetV2Tiny::ARENA_BYTES + 64 }>::new());
    assert_eq!(
        model.forward_in(&mut buffer[..bytes - 4], &input, &mut got),
        Err(Error::BufferTooSmall { needed_bytes: bytes, found_bytes: bytes - 4 })
    );
    let err = model.forward_in(&mut buffer[2..], &input, &mut got).unwrap_err();
    assert_eq!(err, Error::BufferMisaligned { misalignment: 2 });
    assert!(err.to_string().contains("4-byte"), "{err}");
    assert_eq!(
        model.forward_in(&mut buffer[..bytes], &input[1..], &mut got),
        Err(Error::InputLength { expected: 27648, found: 27647 })
    );
    for offset in [0, 4, 36] {
        got = [0.0; 10];
        model.forward_in(&mut buffer[offset..], &input, &mut got).unwrap();
        assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "buffer offset {offset}");
    }
    model.forward_in(&mut buffer, &input, &mut got).unwrap();
    assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits));
}

#[test]
fn arena_of_another_model_is_an_error() {
    let model = MobileNetV2Tiny::new();
    let mut other = OddNonSquare::arena();
    let input = vec![0.1f32; 96 * 96 * 3];
    let mut logits = [0.0f32; 10];
    let err = model.forward(&mut other, &input, &mut logits).unwrap_err();
    assert_eq!(err, Error::ArenaMismatch { expected_model: "MobileNetV2Tiny", found_model: "OddNonSquare" });
    assert!(err.to_string().contains("MobileNetV2Tiny::arena()"));
}

/// The 1.0-224 arena is pinned: a change to fusion or memory planning that moves it must show
/// here and be accepted on purpose (1,254,400 bytes meets the fused schedule's liveness bound).
#[test]
fn v2_arena_size_is_pinned() {
    assert_eq!(MobileNetV2::ARENA_BYTES, 1_254_400);
    assert_eq!(MobileNetV2::arena().bytes(), MobileNetV2::ARENA_BYTES);
}

#[test]
fn weights_of_another_model_are_refused_with_the_tensor_named() {
    let bytes = std::fs::read(repo_root().join("models/v2_0.35_96_c10.safetensors")).unwrap();
    let err = OddNonSquare::from_safetensors(&bytes).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("tensor `features."), "{err}");
}

#[test]
fn results_are_deterministic() {
    let model = MobileNetV2Tiny::new();
    let mut arena = MobileNetV2Tiny::arena();
    let input: Vec<f32> = (0..96 * 96 * 3).map(|i| ((i * 7919) % 255) as f32 / 64.0 - 2.0).collect();
    let mut a = [0.0f32; 10];
    let mut b = [0.0f32; 10];
    model.forward(&mut arena, &input, &mut a).unwrap();
    // A fresh arena and a dirty one give bit-identical results: dirtied by this input, by
    // another one (whose activations differ everywhere), and by a pass on the same input again.
    model.forward(&mut arena, &input, &mut b).unwrap();
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    let other: Vec<f32> = input.iter().map(|v| 1.5 - v * 0.75).collect();
    let mut c = [0.0f32; 10];
    model.forward(&mut arena, &other, &mut c).unwrap();
    assert_ne!(a.map(f32::to_bits), c.map(f32::to_bits), "the other input gives other logits");
    model.forward(&mut arena, &input, &mut b).unwrap();
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    let mut fresh = MobileNetV2Tiny::arena();
    model.forward(&mut fresh, &input, &mut b).unwrap();
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
}
