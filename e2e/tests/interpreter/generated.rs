//! A dozen generated specs (e2e/specs/generate.py), each compiled by the macro and checked
//! against the reference interpreter with random weights (every stage and the logits), on
//! every kernel path and 2 threads.

use mobilenet_compiler::{compile_file, init_weights::init_weights, reference};
use mobilenet_e2e::{input, max_abs, max_abs_diff};
use mobilenet_runtime::{Isa, Threads};
use std::path::Path;

const TOL: f32 = 1e-4;

macro_rules! generated {
    ($($test:ident, $model:ident, $spec:literal;)*) => {$(
        #[test]
        fn $test() {
            mobilenet_runtime::mobilenet!($spec);
            let compiled = compile_file(Path::new(env!("CARGO_MANIFEST_DIR")), $spec).unwrap();
            let net = &compiled.program.network;
            assert_eq!($model::PARAMETERS, net.torch_params());
            assert_eq!($model::MACS, net.macs());
            let weights = init_weights(net, 11);
            let model = $model::from_safetensors(&weights).unwrap();
            let x = input($model::INPUT_HEIGHT * $model::INPUT_WIDTH * 3, 3);
            let want = reference::run(net, &weights, &x).unwrap();
            let scale = max_abs(&want.logits).max(1e-3);
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
                assert_eq!(stages.len(), want.stages.len(), "every stage is reported");
                for ((name, shape, got), (want_name, want_shape, data)) in stages.iter().zip(&want.stages) {
                    assert_eq!((name, shape), (want_name, want_shape));
                    let (diff, s) = (max_abs_diff(got, data), max_abs(data).max(1e-3));
                    assert!(diff <= TOL * s, "{isa:?} {name}: |diff| {diff} vs max magnitude {s}");
                }
                let diff = max_abs_diff(&logits, &want.logits);
                assert!(diff <= TOL * scale, "{isa:?}: |diff| {diff} vs max magnitude {scale}");
                let mut plain = vec![0.0f32; $model::NUM_CLASSES];
                model.forward(&mut arena, &x, &mut plain).unwrap();
                assert_eq!(plain, logits, "{isa:?}: forward and forward_inspect");
            }
            let mut threads = Threads::new(2);
            let mut arena = $model::arena_for(&threads);
            let mut par = vec![0.0f32; $model::NUM_CLASSES];
            model.forward_parallel(&mut threads, &mut arena, &x, &mut par).unwrap();
            let mut one = vec![0.0f32; $model::NUM_CLASSES];
            model.forward(&mut $model::arena(), &x, &mut one).unwrap();
            assert_eq!(par, one);
        }
    )*};
}

generated! {
    generated_01, Generated01, "specs/generated/g01.yaml";
    generated_02, Generated02, "specs/generated/g02.yaml";
    generated_03, Generated03, "specs/generated/g03.yaml";
    generated_04, Generated04, "specs/generated/g04.yaml";
    generated_05, Generated05, "specs/generated/g05.yaml";
    generated_06, Generated06, "specs/generated/g06.yaml";
    generated_07, Generated07, "specs/generated/g07.yaml";
    generated_08, Generated08, "specs/generated/g08.yaml";
    generated_09, Generated09, "specs/generated/g09.yaml";
    generated_10, Generated10, "specs/generated/g10.yaml";
    generated_11, Generated11, "specs/generated/g11.yaml";
    generated_12, Generated12, "specs/generated/g12.yaml";
}
