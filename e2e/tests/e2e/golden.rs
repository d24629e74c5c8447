//! Golden numerics: compiled models against torchvision's logits and per-stage outputs, with
//! every kernel path this CPU runs (AVX-512, AVX2+FMA or NEON, portable).

use crate::models::*;
use mobilenet_e2e::{load_fixture, max_abs, max_abs_diff, repo_root, top_k, Fixture};
use mobilenet_runtime::Isa;

const TOL: f32 = 1e-4;

/// Run both images; check logits and top-5, and every stage of image 0 by name.
fn check(
    fx: &Fixture,
    image_len: usize,
    classes: usize,
    mut run: impl FnMut(&[f32], &mut [f32], Option<&mut dyn FnMut(&str, [usize; 3], &[f32])>),
) {
    for img in 0..2 {
        let input = &fx.input_nhwc[img * image_len..(img + 1) * image_len];
        let want = &fx.logits[img * classes..(img + 1) * classes];
        let mut got = vec![0.0f32; classes];
        let mut seen = Vec::new();
        let mut inspect = |name: &str, shape: [usize; 3], data: &[f32]| {
            seen.push((name.to_string(), shape.to_vec(), data.to_vec()));
        };
        run(input, &mut got, (img == 0).then_some(&mut inspect as &mut dyn FnMut(&str, [usize; 3], &[f32])));
        if img == 0 {
            assert_eq!(seen.len(), fx.stages.len(), "one inspected output per features.N stage");
            for ((name, shape, data), (wname, wshape, wdata)) in seen.iter().zip(&fx.stages) {
                assert_eq!(name, wname);
                assert_eq!(shape, wshape, "{name} shape");
                let diff = max_abs_diff(data, wdata);
                let scale = max_abs(wdata);
                assert!(diff <= TOL * scale.max(1e-6), "{name}: max |diff| {diff} > 1e-4 x max magnitude {scale}");
            }
        }
        let diff = max_abs_diff(&got, want);
        assert!(diff <= TOL, "image {img}: logits max |diff| {diff} > {TOL}");
        assert_eq!(top_k(&got, 5), top_k(want, 5), "image {img}: top-5 differ");
    }
}

/// Weights file (under the repository root) read into a model by `from_safetensors`.
fn weights(path: &str) -> Vec<u8> {
    std::fs::read(repo_root().join(path)).unwrap()
}

/// A golden test: `$model` (made by `$make`) against fixture `$case`, on every kernel path.
macro_rules! golden {
    ($test:ident, $model:ident, $case:literal, $make:expr) => {
        #[test]
        fn $test() {
            let fx = load_fixture($case);
            let model: $model = $make;
            let image_len = $model::INPUT_HEIGHT * $model::INPUT_WIDTH * $model::INPUT_CHANNELS;
            for isa in Isa::supported() {
                let mut arena = $model::arena();
                assert!(arena.set_isa(isa));
                check(&fx, image_len, $model::NUM_CLASSES, |x, out, inspect| match inspect {
                    Some(f) => model.forward_inspect(&mut arena, x, out, f).unwrap(),
                    None => model.forward(&mut arena, x, out).unwrap(),
                });
            }
        }
    };
}

golden!(v2_1_0_224_baked_matches_torchvision, MobileNetV2, "v2_1.0_224", MobileNetV2::new());
golden!(
    v2_1_0_224_from_safetensors_matches_torchvision,
    MobileNetV2,
    "v2_1.0_224",
    MobileNetV2::from_safetensors(&weights("models/v2_1.0_224.safetensors")).unwrap()
);
golden!(v2_0_35_96_baked_matches_torchvision, MobileNetV2Tiny, "v2_0.35_96_c10", MobileNetV2Tiny::new());
golden!(
    v2_0_35_96_from_safetensors_matches_torchvision,
    MobileNetV2Tiny,
    "v2_0.35_96_c10",
    MobileNetV2Tiny::from_safetensors(&weights("models/v2_0.35_96_c10.safetensors")).unwrap()
);

#[test]
fn constants_match_torchvision() {
    assert_eq!(MobileNetV2::PARAMETERS, 3_504_872);
    assert_eq!(MobileNetV2Tiny::PARAMETERS, 408_938);
    assert_eq!((MobileNetV2::INPUT_HEIGHT, MobileNetV2::INPUT_WIDTH, MobileNetV2::INPUT_CHANNELS), (224, 224, 3));
    assert_eq!(MobileNetV2::NUM_CLASSES, 1000);
    assert_eq!(MobileNetV2Tiny::NUM_CLASSES, 10);
    assert_eq!(MobileNetV2::MACS, 300_774_272);
}

/// `forward_in` (a caller's buffer, the no_std entry point) against torchvision, on the CPU's
/// best ISA; the Cortex-M4 firmware runs the same call (scripts/cortex_m4.sh).
#[test]
fn forward_in_matches_torchvision() {
    let fx = load_fixture("v2_0.35_96_c10");
    let model = MobileNetV2Tiny::new();
    let mut buffer = Box::new(mobilenet_runtime::ArenaBuffer::<{ MobileNetV2Tiny::ARENA_BYTES }>::new());
    let (image_len, classes) = (96 * 96 * 3, MobileNetV2Tiny::NUM_CLASSES);
    for img in 0..2 {
        let mut got = vec![0.0f32; classes];
        model.forward_in(&mut buffer, &fx.input_nhwc[img * image_len..(img + 1) * image_len], &mut got).unwrap();
        let want = &fx.logits[img * classes..(img + 1) * classes];
        let diff = max_abs_diff(&got, want);
        assert!(diff <= TOL, "image {img}: logits max |diff| {diff} > {TOL}");
        assert_eq!(top_k(&got, 5), top_k(want, 5), "image {img}: top-5 differ");
    }
}
