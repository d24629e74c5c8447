//! Shared pieces of the benchmarks: the two macro-compiled models, the reference fixtures, and the
//! peer files under `../shared` (resolved from `CARGO_MANIFEST_DIR`).
//!
//! - `benches/ours.rs` (feature `bench`): criterion, our models only.
//! - `benches/peers.rs` (feature `peers`): criterion, ours vs tract-onnx vs candle.
//! - `src/bin/ab_worker.rs` (always built): a line-protocol worker that `benches/peers.py` drives
//!   for A/B timing against ONNX Runtime, OpenVINO and LiteRT.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The models under test, compiled by the macro exactly as users do.
pub mod models {
    mobilenet_runtime::mobilenet!("../models/v2.yaml");
    mobilenet_runtime::mobilenet!("../models/v2_0.35_96_c10.yaml");
}

pub use models::{MobileNetV2, MobileNetV2Tiny};

/// One benchmark case: names and files that belong together.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Model name in the `ab_worker` protocol: `v2` or `tiny`.
    pub name: &'static str,
    /// Criterion group name, e.g. `v2_1.0_224`.
    pub group: &'static str,
    /// Folder name under `fixtures/` and `../shared/reference/`.
    pub reference: &'static str,
    /// Torchvision-named weights under `models/`.
    pub weights: &'static str,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    /// Multiply-accumulates per image.
    pub macs: u64,
}

/// MobileNetV2 1.0-224, 1000 classes (`models/v2.yaml`).
pub const V2: Case = Case {
    name: "v2",
    group: "v2_1.0_224",
    reference: "v2_1.0_224",
    weights: "v2_1.0_224.safetensors",
    height: MobileNetV2::INPUT_HEIGHT,
    width: MobileNetV2::INPUT_WIDTH,
    classes: MobileNetV2::NUM_CLASSES,
    macs: MobileNetV2::MACS,
};

/// MobileNetV2 0.35-96, 10 classes (`models/v2_0.35_96_c10.yaml`).
pub const TINY: Case = Case {
    name: "tiny",
    group: "v2_0.35_96",
    reference: "v2_0.35_96_c10",
    weights: "v2_0.35_96_c10.safetensors",
    height: MobileNetV2Tiny::INPUT_HEIGHT,
    width: MobileNetV2Tiny::INPUT_WIDTH,
    classes: MobileNetV2Tiny::NUM_CLASSES,
    macs: MobileNetV2Tiny::MACS,
};

/// Both cases, 1.0-224 first.
pub const CASES: [Case; 2] = [V2, TINY];

/// The case named `v2` or `tiny`.
pub fn case(name: &str) -> Option<Case> {
    CASES.into_iter().find(|c| c.name == name)
}

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("benches/ has a parent").to_path_buf()
}

/// `../shared` next to the repository root, where the peer models live.
pub fn shared_dir() -> PathBuf {
    repo_root().parent().expect("the repository root has a parent").join("shared")
}

/// A file under `../shared`; panics with a clear message naming the path if it is absent.
pub fn shared_file(relative: &str) -> PathBuf {
    let path = shared_dir().join(relative);
    if !path.is_file() {
        panic!(
            "benchmark input missing: {} does not exist.\n\
             The peer benchmarks read the reference and peer models from `../shared` next to the \
             repository root ({}); provide that folder (reference/*/model.onnx, peers/*.tflite) to run them.",
            path.display(),
            shared_dir().display()
        );
    }
    path
}

/// Reads a file, panicking with its path on failure.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

impl Case {
    /// `../shared/reference/<case>/model.onnx` (panics clearly if absent).
    pub fn onnx(&self) -> PathBuf {
        shared_file(&format!("reference/{}/model.onnx", self.reference))
    }

    /// `models/<weights>.safetensors`: the same weights, torchvision `state_dict` names.
    pub fn weights_path(&self) -> PathBuf {
        repo_root().join("models").join(self.weights)
    }

    /// Reference image 0 and torchvision's logits for it, from `fixtures/<case>/io.safetensors`.
    pub fn fixture(&self) -> Fixture {
        let path = repo_root().join("fixtures").join(self.reference).join("io.safetensors");
        let bytes = read(&path);
        let io = safetensors::SafeTensors::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("{} is not safetensors: {e}", path.display()));
        let floats = |name: &str, len: usize| -> Vec<f32> {
            let t = io.tensor(name).unwrap_or_else(|e| panic!("{}: tensor {name}: {e}", path.display()));
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{}: {name} is not f32", path.display());
            let all: Vec<f32> =
                t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            assert!(all.len() >= len, "{}: {name} has {} values, expected >= {len}", path.display(), all.len());
            all[..len].to_vec()
        };
        let image = self.height * self.width * 3;
        Fixture {
            input_nhwc: floats("input_nhwc", image),
            input_nchw: floats("input_nchw", image),
            logits: floats("logits", self.classes),
        }
    }
}

/// Reference image 0 in both layouts, and torchvision's logits for it.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub input_nhwc: Vec<f32>,
    pub input_nchw: Vec<f32>,
    pub logits: Vec<f32>,
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Indices of the `k` largest values, largest first.
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    idx.truncate(k);
    idx
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A model's `forward` with its arena captured: `(input_hwc, logits)`.
type Forward = Box<dyn FnMut(&[f32], &mut [f32]) + Send>;

/// One of our models (baked weights) with its arena, fed reference image 0.
pub struct Ours {
    pub case: Case,
    pub fixture: Fixture,
    logits: Vec<f32>,
    forward: Forward,
}

impl Ours {
    /// Builds the model of `case` with `new()` and its `arena()`: one thread.
    pub fn new(case: Case) -> Ours {
        Ours::with_threads(case, 1)
    }

    /// Builds the model of `case` to run on `threads` threads (`forward_parallel` when > 1).
    pub fn with_threads(case: Case, threads: usize) -> Ours {
        macro_rules! runner {
            ($model:ident) => {{
                let model = $model::new();
                if threads > 1 {
                    let mut pool = mobilenet_runtime::Threads::new(threads);
                    let mut arena = $model::arena_for(&pool);
                    Box::new(move |x: &[f32], y: &mut [f32]| {
                        model.forward_parallel(&mut pool, &mut arena, x, y).expect("forward_parallel")
                    }) as Forward
                } else {
                    let mut arena = $model::arena();
                    Box::new(move |x: &[f32], y: &mut [f32]| model.forward(&mut arena, x, y).expect("forward"))
                }
            }};
        }
        let forward: Forward = match case.name {
            "v2" => runner!(MobileNetV2),
            "tiny" => runner!(MobileNetV2Tiny),
            other => panic!("no compiled model for case {other:?}"),
        };
        Ours { case, fixture: case.fixture(), logits: vec![0.0; case.classes], forward }
    }

    /// One forward on the reference image; returns the logits.
    pub fn forward(&mut self) -> &[f32] {
        (self.forward)(std::hint::black_box(&self.fixture.input_nhwc), &mut self.logits);
        std::hint::black_box(&self.logits)
    }

    /// Checks our logits against torchvision's (1e-4) and returns the max difference.
    pub fn check(&mut self) -> f32 {
        let logits = self.forward().to_vec();
        let diff = max_abs_diff(&logits, &self.fixture.logits);
        assert!(diff < 1e-4, "{}: our logits differ from torchvision's by {diff:e}", self.case.group);
        diff
    }
}
