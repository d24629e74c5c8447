//! Ours against tract-onnx and candle, single thread, same weights and input:
//! `cargo bench -p mobilenet-benches --features peers --bench peers`.
//!
//! - `ours`: the `mobilenet!`-compiled model (baked weights), NHWC input.
//! - `tract`: `../shared/reference/<case>/model.onnx` through tract-onnx (`into_optimized`,
//!   `into_runnable`), NCHW input. tract runs on one thread unless told otherwise.
//! - `candle`: MobileNetV2 built here from candle-nn layers (depthwise = grouped conv), loading
//!   `models/<case>.safetensors` (torchvision names) through a `VarBuilder`, on the CPU device with
//!   `RAYON_NUM_THREADS=1`.
//!
//! At setup both peers' logits are compared with ours (and torchvision's); a peer that disagrees by
//! more than 1e-3 stops the benchmark.

use std::time::Duration;

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder};
use criterion::{Criterion, Throughput};
use mobilenet_benches::{max_abs_diff, read, top_k, Case, Ours, TINY, V2};
use tract_onnx::prelude::*;

/// The largest difference between a peer's logits and ours that still counts as agreement.
const TOLERANCE: f32 = 1e-3;

/// torchvision's `_make_divisible`.
fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let rounded = ((v + d / 2.0) as usize / divisor * divisor).max(divisor);
    if (rounded as f64) < 0.9 * v {
        rounded + divisor
    } else {
        rounded
    }
}

/// Conv (no bias) + BatchNorm (+ ReLU6): torchvision's `Conv2dNormActivation`.
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    relu6: bool,
}

impl ConvBn {
    fn new(
        vb: &VarBuilder,
        conv: &str,
        bn: &str,
        (inp, out, kernel): (usize, usize, usize),
        stride: usize,
        groups: usize,
        relu6: bool,
    ) -> candle_core::Result<ConvBn> {
        let cfg = Conv2dConfig { padding: (kernel - 1) / 2, stride, groups, ..Default::default() };
        Ok(ConvBn {
            conv: candle_nn::conv2d_no_bias(inp, out, kernel, cfg, vb.pp(conv))?,
            bn: candle_nn::batch_norm(out, 1e-5, vb.pp(bn))?,
            relu6,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.bn.forward_t(&self.conv.forward(x)?, false)?;
        if self.relu6 {
            y.clamp(0f32, 6f32)
        } else {
            Ok(y)
        }
    }
}

/// torchvision's `InvertedResidual`.
struct Block {
    layers: Vec<ConvBn>,
    residual: bool,
}

/// torchvision's `MobileNetV2` in eval mode, NCHW.
struct CandleMobileNetV2 {
    blocks: Vec<Block>,
    classifier: Linear,
}

impl CandleMobileNetV2 {
    /// The default inverted-residual table scaled by `width_mult`, torchvision's names and rules.
    fn new(vb: VarBuilder, width_mult: f64, classes: usize) -> candle_core::Result<Self> {
        const TABLE: [(usize, usize, usize, usize); 7] =
            [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
        let mut inp = make_divisible(32.0 * width_mult, 8);
        let last = make_divisible(1280.0 * width_mult.max(1.0), 8);
        let mut blocks = vec![Block {
            layers: vec![ConvBn::new(&vb, "features.0.0", "features.0.1", (3, inp, 3), 2, 1, true)?],
            residual: false,
        }];
        for (t, c, n, s) in TABLE {
            let out = make_divisible(c as f64 * width_mult, 8);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let p = format!("features.{}.conv", blocks.len());
                let hidden = inp * t;
                let mut layers = Vec::new();
                let mut k = 0;
                if t != 1 {
                    layers.push(ConvBn::new(
                        &vb,
                        &format!("{p}.0.0"),
                        &format!("{p}.0.1"),
                        (inp, hidden, 1),
                        1,
                        1,
                        true,
                    )?);
                    k = 1;
                }
                let (dw_conv, dw_bn) = (format!("{p}.{k}.0"), format!("{p}.{k}.1"));
                layers.push(ConvBn::new(&vb, &dw_conv, &dw_bn, (hidden, hidden, 3), stride, hidden, true)?);
                let (pw_conv, pw_bn) = (format!("{p}.{}", k + 1), format!("{p}.{}", k + 2));
                layers.push(ConvBn::new(&vb, &pw_conv, &pw_bn, (hidden, out, 1), 1, 1, false)?);
                blocks.push(Block { layers, residual: stride == 1 && inp == out });
                inp = out;
            }
        }
        let p = format!("features.{}", blocks.len());
        let head = ConvBn::new(&vb, &format!("{p}.0"), &format!("{p}.1"), (inp, last, 1), 1, 1, true)?;
        blocks.push(Block { layers: vec![head], residual: false });
        let classifier = candle_nn::linear(last, classes, vb.pp("classifier.1"))?;
        Ok(CandleMobileNetV2 { blocks, classifier })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for block in &self.blocks {
            let mut y = x.clone();
            for layer in &block.layers {
                y = layer.forward(&y)?;
            }
            x = if block.residual { (x + y)? } else { y };
        }
        self.classifier.forward(&x.mean((2, 3))?)
    }
}

fn width_mult(case: &Case) -> f64 {
    match case.name {
        "v2" => 1.0,
        "tiny" => 0.35,
        other => panic!("no width multiplier for case {other:?}"),
    }
}

/// Panics loudly unless a peer's logits agree with ours.
fn check_peer(peer: &str, case: &Case, logits: &[f32], ours: &[f32], torchvision: &[f32]) {
    let diff = max_abs_diff(logits, ours);
    eprintln!(
        "{}: {peer} vs ours max |diff| {diff:.2e} (vs torchvision {:.2e}), same top-5: {}",
        case.group,
        max_abs_diff(logits, torchvision),
        top_k(logits, 5) == top_k(ours, 5)
    );
    assert!(
        diff <= TOLERANCE,
        "\n\n*** {}: {peer}'s logits differ from ours by {diff:e} (> {TOLERANCE:e}); the benchmark would compare \
         different computations ***\n\n",
        case.group
    );
}

fn bench_case(c: &mut Criterion, case: Case, samples: usize, seconds: u64) {
    let mut ours = Ours::new(case);
    ours.check();
    let ours_logits = ours.forward().to_vec();
    let fixture = ours.fixture.clone();
    let (h, w) = (case.height, case.width);

    // tract: the reference ONNX model, NCHW.
    let tract = tract_onnx::onnx()
        .model_for_path(case.onnx())
        .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, h, w]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .unwrap_or_else(|e| panic!("{}: tract cannot load {}: {e:?}", case.group, case.onnx().display()));
    let tract_input: TValue =
        tract_ndarray::Array4::from_shape_vec((1, 3, h, w), fixture.input_nchw.clone()).expect("NCHW").into_tvalue();
    let tract_run = || tract.run(tvec!(tract_input.clone())).expect("tract run");
    let out = tract_run();
    let logits: Vec<f32> = out[0].to_plain_array_view::<f32>().expect("f32 logits").iter().copied().collect();
    check_peer("tract", &case, &logits, &ours_logits, &fixture.logits);

    // candle: built from candle-nn layers, the torchvision safetensors.
    let device = Device::Cpu;
    let vb = VarBuilder::from_buffered_safetensors(read(&case.weights_path()), DType::F32, &device)
        .expect("candle: weights are safetensors");
    let candle = CandleMobileNetV2::new(vb, width_mult(&case), case.classes)
        .unwrap_or_else(|e| panic!("{}: candle model: {e}", case.group));
    let candle_input = Tensor::from_slice(&fixture.input_nchw, (1, 3, h, w), &device).expect("NCHW");
    let candle_run = || candle.forward(&candle_input).expect("candle forward");
    let logits = candle_run().flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("candle logits");
    check_peer("candle", &case, &logits, &ours_logits, &fixture.logits);

    let mut group = c.benchmark_group(case.group);
    group.sample_size(samples).measurement_time(Duration::from_secs(seconds)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("ours", |b| b.iter(|| ours.forward().len()));
    group.bench_function("tract", |b| b.iter(tract_run));
    group.bench_function("candle", |b| b.iter(candle_run));
    group.finish();
}

fn main() {
    // Every engine on one thread: candle's CPU kernels (and gemm) size their pools from these.
    // (Edition 2021: set before any other thread exists.)
    std::env::set_var("RAYON_NUM_THREADS", "1");
    std::env::set_var("CANDLE_NUM_THREADS", "1");
    let mut c = Criterion::default().configure_from_args();
    bench_case(&mut c, V2, 10, 3);
    bench_case(&mut c, TINY, 30, 2);
    c.final_summary();
}
