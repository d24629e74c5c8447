//! Compiled variants against the reference interpreter (BN unfolded, direct loops), with
//! random torchvision-named weights: odd and non-square inputs, widths 0.35/0.5/1.4, a custom
//! table with round_nearest 4, few classes, TF padding with Keras's BatchNorm epsilon (fused
//! and unfused stem); with every kernel path this CPU runs.

use crate::models::*;
use mobilenet_compiler::{compile_file, init_weights::init_weights, reference};
use mobilenet_e2e::{input, max_abs, max_abs_diff};
use mobilenet_runtime::Isa;
use std::path::Path;

const TOL: f32 = 1e-4;

macro_rules! check_variant {
    ($test:ident, $model:ident, $spec:literal) => {
        #[test]
        fn $test() {
            let compiled = compile_file(Path::new(env!("CARGO_MANIFEST_DIR")), $spec).unwrap();
            let net = &compiled.program.network;
            assert_eq!(($model::INPUT_HEIGHT, $model::INPUT_WIDTH), (net.input.h, net.input.w));
            assert_eq!($model::PARAMETERS, net.torch_params());
            for seed in [1u64, 2] {
                let weights = init_weights(net, seed);
                let model = $model::from_safetensors(&weights).unwrap();
                let x = input($model::INPUT_HEIGHT * $model::INPUT_WIDTH * 3, seed);
                let want = reference::run(net, &weights, &x).unwrap();
                for isa in Isa::supported() {
                    let mut arena = $model::arena();
                    assert!(arena.set_isa(isa));
                    let mut logits = vec![0.0f32; $model::NUM_CLASSES];
                    let mut stages = Vec::new();
                    model
                        .forward_inspect(&mut arena, &x, &mut logits, &mut |n: &str, s: [usize; 3], d: &[f32]| {
                            stages.push((n.to_string(), s, d.to_vec()))
                        })
                        .unwrap();
                    assert_eq!(stages.len(), want.stages.len());
                    for ((name, shape, got), (wname, wshape, wdata)) in stages.iter().zip(&want.stages) {
                        assert_eq!((name, shape), (wname, wshape));
                        let (diff, scale) = (max_abs_diff(got, wdata), max_abs(wdata));
                        assert!(
                            diff <= TOL * scale.max(1e-3),
                            "{isa:?} {name}: |diff| {diff} vs max magnitude {scale}"
                        );
                    }
                    let (diff, scale) = (max_abs_diff(&logits, &want.logits), max_abs(&want.logits));
                    assert!(diff <= TOL * scale.max(1e-3), "{isa:?} logits: |diff| {diff} vs max magnitude {scale}");
                }
            }
        }
    };
}

check_variant!(odd_nonsquare_width_05, OddNonSquare, "specs/odd_nonsquare.yaml");
check_variant!(width_035_odd_resolution, Width035Odd, "specs/width035_odd.yaml");
check_variant!(width_14_nonsquare, Width14NonSquare, "specs/width14_nonsquare.yaml");
check_variant!(custom_table_round_nearest_4, CustomTable, "specs/custom_table.yaml");
check_variant!(one_pixel_wide, OnePixelWide, "specs/one_pixel_wide.yaml");
check_variant!(tf_padding_even_nonsquare, TfEvenNonSquare, "specs/tf_even_nonsquare.yaml");
check_variant!(tf_padding_unfused_stem_rgb8, TfRgb8, "specs/tf_rgb8.yaml");
