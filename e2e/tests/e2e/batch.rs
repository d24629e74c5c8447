//! `forward_batch`: bit-identical to `forward` on each image, on every kernel path, with
//! shape-constant and run-time-shaped kernels; errors for bad lengths and small arenas.

use crate::models::*;
use mobilenet_e2e::input;
use mobilenet_runtime::{Error, Isa};

macro_rules! batch_matches_forward {
    ($model:ident, $new:expr) => {{
        let model = $new;
        let image = $model::INPUT_HEIGHT * $model::INPUT_WIDTH * 3;
        let classes = $model::NUM_CLASSES;
        for isa in Isa::supported() {
            for specialized in [true, false] {
                for n in [1, 3, 9] {
                    let x = input(n * image, 40 + n as u64);
                    let mut want = vec![0.0f32; n * classes];
                    let mut arena = $model::arena();
                    assert!(arena.set_isa(isa));
                    arena.set_specialized(specialized);
                    for i in 0..n {
                        let (x, y) = (&x[i * image..][..image], &mut want[i * classes..][..classes]);
                        model.forward(&mut arena, x, y).unwrap();
                    }
                    // An arena for more images than the batch works too.
                    let mut arena = $model::arena_batch(n + 1);
                    assert!(arena.set_isa(isa));
                    arena.set_specialized(specialized);
                    let mut got = vec![f32::NAN; n * classes];
                    model.forward_batch(&mut arena, &x, &mut got).unwrap();
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{isa:?}, specialized {specialized}, {n} images");
                }
            }
        }
    }};
}

#[test]
fn batch_is_bit_identical_to_forward() {
    batch_matches_forward!(MobileNetV2Tiny, MobileNetV2Tiny::new());
}

#[test]
fn batch_of_a_wide_nonsquare_model_is_bit_identical_to_forward() {
    let bytes = mobilenet_e2e::random_weights("specs/width14_nonsquare.yaml", 3);
    batch_matches_forward!(Width14NonSquare, Width14NonSquare::from_safetensors(&bytes).unwrap());
}

#[test]
fn batch_errors() {
    let model = MobileNetV2Tiny::new();
    let image = 96 * 96 * 3;
    let mut arena = MobileNetV2Tiny::arena_batch(2);
    let mut logits = [0.0f32; 20];
    assert_eq!(
        model.forward_batch(&mut arena, &[], &mut logits),
        Err(Error::BatchInputLength { image_len: image, found: 0 })
    );
    assert_eq!(
        model.forward_batch(&mut arena, &vec![0.0; image + 1], &mut logits),
        Err(Error::BatchInputLength { image_len: image, found: image + 1 })
    );
    assert_eq!(
        model.forward_batch(&mut arena, &vec![0.0; 2 * image], &mut logits[..19]),
        Err(Error::OutputLength { expected: 20, found: 19 })
    );
    let mut big = [0.0f32; 30];
    assert_eq!(
        model.forward_batch(&mut arena, &vec![0.0; 3 * image], &mut big),
        Err(Error::ArenaTooSmallForBatch {
            images: 3,
            needed_bytes: 3 * MobileNetV2Tiny::ARENA_BYTES,
            found_bytes: 2 * MobileNetV2Tiny::ARENA_BYTES
        })
    );
    assert!(model.forward_batch(&mut arena, &vec![0.0; 2 * image], &mut logits).is_ok());
    let mut other = Width14NonSquare::arena_batch(2);
    assert!(matches!(
        model.forward_batch(&mut other, &vec![0.0; 2 * image], &mut logits),
        Err(Error::ArenaMismatch { .. })
    ));
}

#[test]
fn an_arena_past_usize_panics_like_an_allocation_in_every_profile() {
    // Not an overflow in the generated product (debug) nor a wrapped, small arena (release).
    let panic = std::panic::catch_unwind(|| MobileNetV2Tiny::arena_batch(usize::MAX)).unwrap_err();
    let msg = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
    assert_eq!(msg.as_deref(), Some("capacity overflow"));
}
