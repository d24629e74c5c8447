//! Golden numerics: compiled models against torchvision's logits and per-stage outputs, with
//! every kernel path this CPU runs (AVX-512, AVX2+FMA, portable).

use mobilenet_e2e::{load_fixture, max_abs, max_abs_diff, repo_root, top_k, Fixture};
use mobilenet_runtime::Isa;

mobilenet_runtime::mobilenet!("../models/v2.yaml");
mobilenet_runtime::mobilenet!("../models/v2_0.35_96_c10.yaml");

const TOL: f32 = 1e-4;

/// Run both images; check logits and top-5, and every stage of image 0 by name.
fn check<M>(
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
    let _ = std::marker::PhantomData::<M>;
}

#[test]
fn v2_1_0_224_baked_matches_torchvision() {
    let fx = load_fixture("v2_1.0_224");
    let model = MobileNetV2::new();
    for isa in Isa::supported() {
        let mut arena = MobileNetV2::arena();
        assert!(arena.set_isa(isa));
        check::<MobileNetV2>(&fx, 224 * 224 * 3, 1000, |x, out, inspect| match inspect {
            Some(f) => model.forward_inspect(&mut arena, x, out, f).unwrap(),
            None => model.forward(&mut arena, x, out).unwrap(),
        });
    }
}

#[test]
fn v2_1_0_224_from_safetensors_matches_torchvision() {
    let fx = load_fixture("v2_1.0_224");
    let bytes = std::fs::read(repo_root().join("models/v2_1.0_224.safetensors")).unwrap();
    let model = MobileNetV2::from_safetensors(&bytes).unwrap();
    for isa in Isa::supported() {
        let mut arena = MobileNetV2::arena();
        assert!(arena.set_isa(isa));
        check::<MobileNetV2>(&fx, 224 * 224 * 3, 1000, |x, out, inspect| match inspect {
            Some(f) => model.forward_inspect(&mut arena, x, out, f).unwrap(),
            None => model.forward(&mut arena, x, out).unwrap(),
        });
    }
}

#[test]
fn v2_0_35_96_baked_matches_torchvision() {
    let fx = load_fixture("v2_0.35_96_c10");
    let model = MobileNetV2Tiny::new();
    for isa in Isa::supported() {
        let mut arena = MobileNetV2Tiny::arena();
        assert!(arena.set_isa(isa));
        check::<MobileNetV2Tiny>(&fx, 96 * 96 * 3, 10, |x, out, inspect| match inspect {
            Some(f) => model.forward_inspect(&mut arena, x, out, f).unwrap(),
            None => model.forward(&mut arena, x, out).unwrap(),
        });
    }
}

#[test]
fn v2_0_35_96_from_safetensors_matches_torchvision() {
    let fx = load_fixture("v2_0.35_96_c10");
    let bytes = std::fs::read(repo_root().join("models/v2_0.35_96_c10.safetensors")).unwrap();
    let model = MobileNetV2Tiny::from_safetensors(&bytes).unwrap();
    for isa in Isa::supported() {
        let mut arena = MobileNetV2Tiny::arena();
        assert!(arena.set_isa(isa));
        check::<MobileNetV2Tiny>(&fx, 96 * 96 * 3, 10, |x, out, inspect| match inspect {
            Some(f) => model.forward_inspect(&mut arena, x, out, f).unwrap(),
            None => model.forward(&mut arena, x, out).unwrap(),
        });
    }
}

#[test]
fn constants_match_torchvision() {
    assert_eq!(MobileNetV2::PARAMETERS, 3_504_872);
    assert_eq!(MobileNetV2Tiny::PARAMETERS, 408_938);
    assert_eq!((MobileNetV2::INPUT_HEIGHT, MobileNetV2::INPUT_WIDTH, MobileNetV2::INPUT_CHANNELS), (224, 224, 3));
    assert_eq!(MobileNetV2::NUM_CLASSES, 1000);
    assert_eq!(MobileNetV2Tiny::NUM_CLASSES, 10);
    assert_eq!(MobileNetV2::MACS, 300_774_272);
}
