//! Helpers shared by the end-to-end tests: fixture loading and comparisons.
#![forbid(unsafe_code)]

use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

/// The repository root (fixtures and models live there).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A reference case's inputs and torchvision outputs.
pub struct Fixture {
    pub input_nhwc: Vec<f32>,
    pub logits: Vec<f32>,
    /// `(name, [h, w, c], data)` of every `features.N` output for image 0.
    pub stages: Vec<(String, Vec<usize>, Vec<f32>)>,
}

pub fn load_fixture(case: &str) -> Fixture {
    let bytes = std::fs::read(repo_root().join("fixtures").join(case).join("io.safetensors")).expect("fixture");
    let st = SafeTensors::deserialize(&bytes).expect("fixture is safetensors");
    let f32s = |name: &str| -> (Vec<usize>, Vec<f32>) {
        let t = st.tensor(name).expect(name);
        let data = le_f32s(t.data());
        (t.shape().to_vec(), data)
    };
    let mut stages: Vec<(String, Vec<usize>, Vec<f32>)> = st
        .names()
        .into_iter()
        .filter(|n| n.starts_with("features."))
        .map(|n| {
            let (shape, data) = f32s(n);
            (n.to_string(), shape, data)
        })
        .collect();
    stages.sort_by_key(|(n, _, _)| n.trim_start_matches("features.").parse::<usize>().unwrap_or(usize::MAX));
    Fixture { input_nhwc: f32s("input_nhwc").1, logits: f32s("logits").1, stages }
}

/// Little-endian f32 tensor bytes (safetensors' `F32`) as floats.
pub fn le_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Random torchvision-named weights (safetensors bytes) for the spec at `spec` (relative to
/// this crate), from `seed`.
pub fn random_weights(spec: &str, seed: u64) -> Vec<u8> {
    let compiled =
        mobilenet_compiler::compile_file(Path::new(env!("CARGO_MANIFEST_DIR")), spec).expect("the spec compiles");
    mobilenet_compiler::init_weights::init_weights(&compiled.program.network, seed)
}

/// `len` deterministic inputs in [-2, 2) from `seed` (an LCG: no dependency, same on every run).
pub fn input(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Indices of the `k` largest values, largest first.
pub fn top_k(v: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.truncate(k);
    idx
}

/// Tolerance of a compiled variant against the reference interpreter, relative to the largest
/// magnitude of the tensor compared.
pub const VARIANT_TOL: f32 = 1e-4;

/// `check_variant!(test_name, Model, "spec.yaml")`: a test comparing compiled model `Model`
/// (from `spec.yaml`) with random torchvision-named weights against the reference interpreter
/// (BatchNorm unfolded, direct loops), stage by stage and in its logits, on every kernel path
/// this CPU runs, for two seeds. Shared by the two test binaries that compile variant models.
#[macro_export]
macro_rules! check_variant {
    ($test:ident, $model:ident, $spec:literal) => {
        #[test]
        fn $test() {
            let compiled =
                ::mobilenet_compiler::compile_file(::std::path::Path::new(env!("CARGO_MANIFEST_DIR")), $spec).unwrap();
            let net = &compiled.program.network;
            assert_eq!(($model::INPUT_HEIGHT, $model::INPUT_WIDTH), (net.input.h, net.input.w));
            assert_eq!($model::PARAMETERS, net.torch_params());
            for seed in [1u64, 2] {
                let weights = ::mobilenet_compiler::init_weights::init_weights(net, seed);
                let model = $model::from_safetensors(&weights).unwrap();
                let x = $crate::input($model::INPUT_HEIGHT * $model::INPUT_WIDTH * 3, seed);
                let want = ::mobilenet_compiler::reference::run(net, &weights, &x).unwrap();
                for isa in ::mobilenet_runtime::Isa::supported() {
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
                        let (diff, scale) = ($crate::max_abs_diff(got, wdata), $crate::max_abs(wdata));
                        assert!(
                            diff <= $crate::VARIANT_TOL * scale.max(1e-3),
                            "{isa:?} {name}: |diff| {diff} vs max magnitude {scale}"
                        );
                    }
                    let (diff, scale) = ($crate::max_abs_diff(&logits, &want.logits), $crate::max_abs(&want.logits));
                    assert!(
                        diff <= $crate::VARIANT_TOL * scale.max(1e-3),
                        "{isa:?} logits: |diff| {diff} vs max magnitude {scale}"
                    );
                }
            }
        }
    };
}
