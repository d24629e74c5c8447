//! 8-bit frames in (`input: {format: rgb8, ...}`) and class names (`labels`): `forward_rgb8`
//! equals normalise-then-`forward` on every ISA and thread count, checks the pixel slice's
//! length, and leaves `forward` on floats as it was; a batch of floats still works.

use crate::models::*;
use mobilenet_e2e::{max_abs, max_abs_diff, random_weights};
use mobilenet_runtime::{Error, Isa, Padding, Threads};

/// Deterministic pixels covering 0..=255.
fn pixels(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64).map(|i| ((i * 2_654_435_761 + seed * 97) >> 7) as u8).collect()
}

/// The normalisation as a user would write it, in f64: `(x / 255 - mean) / std`.
fn normalise(px: &[u8]) -> Vec<f32> {
    px.iter()
        .enumerate()
        .map(|(i, &p)| {
            let c = i % 3;
            ((p as f64 / 255.0 - TfRgb8::INPUT_MEAN[c] as f64) / TfRgb8::INPUT_STD[c] as f64) as f32
        })
        .collect()
}

#[test]
fn forward_rgb8_equals_normalise_then_forward() {
    assert_eq!(TfRgb8::PADDING, Padding::Tf);
    assert_eq!((TfRgb8::INPUT_MEAN, TfRgb8::INPUT_STD), ([0.5; 3], [0.5; 3]));
    let model = TfRgb8::from_safetensors(&random_weights("specs/tf_rgb8.yaml", 3)).unwrap();
    let len = TfRgb8::INPUT_HEIGHT * TfRgb8::INPUT_WIDTH * 3;
    for seed in [1, 2] {
        let px = pixels(len, seed);
        let x = normalise(&px);
        for isa in Isa::supported() {
            let mut arena = TfRgb8::arena();
            assert!(arena.set_isa(isa));
            let mut want = [0.0f32; TfRgb8::NUM_CLASSES];
            model.forward(&mut arena, &x, &mut want).unwrap();
            let mut got = [0.0f32; TfRgb8::NUM_CLASSES];
            model.forward_rgb8(&mut arena, &px, &mut got).unwrap();
            let (diff, scale) = (max_abs_diff(&got, &want), max_abs(&want));
            assert!(diff <= 1e-5 * scale.max(1e-3), "{isa:?}: |diff| {diff} vs logit scale {scale}");
            for n in [2, 3] {
                let mut threads = Threads::new(n);
                let mut arena = TfRgb8::arena_for(&threads);
                assert!(arena.set_isa(isa));
                let mut par = [0.0f32; TfRgb8::NUM_CLASSES];
                model.forward_parallel_rgb8(&mut threads, &mut arena, &px, &mut par).unwrap();
                assert_eq!(par.map(f32::to_bits), got.map(f32::to_bits), "{isa:?}, {n} threads");
            }
            // Floats after frames: the staged image does not leak into `forward`.
            let mut again = [0.0f32; TfRgb8::NUM_CLASSES];
            model.forward(&mut arena, &x, &mut again).unwrap();
            assert_eq!(again.map(f32::to_bits), want.map(f32::to_bits), "{isa:?}");
            let mut batch = TfRgb8::arena_batch(2);
            assert!(batch.set_isa(isa));
            let mut logits = [0.0f32; 2 * TfRgb8::NUM_CLASSES];
            let two: Vec<f32> = x.iter().chain(&x).copied().collect();
            model.forward_batch(&mut batch, &two, &mut logits).unwrap();
            assert_eq!(logits[..TfRgb8::NUM_CLASSES], want[..], "{isa:?}");
        }
    }
}

#[test]
fn wrong_pixel_or_logit_lengths_are_errors() {
    let model = TfRgb8::from_safetensors(&random_weights("specs/tf_rgb8.yaml", 3)).unwrap();
    let mut arena = TfRgb8::arena();
    let len = TfRgb8::INPUT_HEIGHT * TfRgb8::INPUT_WIDTH * 3;
    let mut logits = [0.0f32; TfRgb8::NUM_CLASSES];
    let e = model.forward_rgb8(&mut arena, &pixels(len - 1, 1), &mut logits).unwrap_err();
    assert!(matches!(e, Error::PixelsLength { expected, found } if expected == len && found == len - 1), "{e}");
    assert!(e.to_string().contains("pixels slice has"), "{e}");
    let e = model.forward_rgb8(&mut arena, &pixels(len, 1), &mut logits[..3]).unwrap_err();
    assert!(matches!(e, Error::OutputLength { expected: 4, found: 3 }), "{e}");
}

#[test]
fn labels_come_from_the_spec_file() {
    assert_eq!(TfRgb8::LABELS, ["cat", "dog", "tabby cat", "teapot"]);
}
