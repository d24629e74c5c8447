//! A plain reference interpreter of the layer IR: the second oracle for compiled code.
//!
//! It shares nothing with the compiled path but the IR, tensor reading and the convolution
//! output-size formula (`tests/spec_props.rs` checks that one independently): the torchvision
//! tensors are read raw (OIHW), every convolution is a direct loop accumulating in f64, and
//! BatchNorm is applied unfolded, `(x - mean) / sqrt(var + eps) * gamma + beta`, as PyTorch
//! evaluates it. Activations are rounded to f32 between layers, as in PyTorch. TF's "SAME"
//! padding (`padding: tf`) follows TensorFlow's own definition: the total padding
//! `max((out - 1) * stride + k - in, 0)`, its smaller half before the input.

use crate::ir::{Layer, Network, Op, Shape, Value};
use crate::spec::Padding;
use mobilenet_kernels::checkpoint::read;
use mobilenet_kernels::reference::conv_out;
use mobilenet_kernels::Error;
use safetensors::SafeTensors;

/// What the interpreter computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// `("features.N", [h, w, c], data)` for every stage, in order; data is HWC.
    pub stages: Vec<(String, [usize; 3], Vec<f32>)>,
    pub logits: Vec<f32>,
}

/// Run `net` on one `h x w x 3` HWC image with the torchvision weights in `weights`
/// (safetensors bytes, F32, F16 or BF16). Tensors the network does not use are ignored.
///
/// # Panics
///
/// Only on a malformed IR: a tensor read before it is written, or shapes that disagree with
/// the convolution arithmetic (both are compiler bugs this oracle is there to expose).
pub fn run(net: &Network, weights: &[u8], input_hwc: &[f32]) -> Result<Output, Error> {
    run_observed(net, weights, input_hwc, &mut |_, _| {})
}

/// [`run`], showing `observe` every layer's output (layer index, HWC data) as it is computed:
/// what calibration measures.
pub fn run_observed(
    net: &Network,
    weights: &[u8],
    input_hwc: &[f32],
    observe: &mut dyn FnMut(usize, &[f32]),
) -> Result<Output, Error> {
    if input_hwc.len() != net.input.len() {
        return Err(Error::InputLength { expected: net.input.len(), found: input_hwc.len() });
    }
    let st = SafeTensors::deserialize(weights).map_err(|e| Error::NotSafetensors { reason: e.to_string() })?;
    let mut tensors: Vec<Option<Vec<f32>>> = vec![None; net.tensors.len()];
    let mut stages = Vec::new();
    let mut logits = None;
    for (i, layer) in net.layers.iter().enumerate() {
        let x: &[f32] = match layer.input {
            Value::Image => input_hwc,
            Value::Tensor(t) => {
                tensors[t].as_deref().unwrap_or_else(|| panic!("layer {i} reads tensor {t} before it is written"))
            }
            Value::Logits => panic!("layer {i} reads the logits"),
        };
        assert_eq!(x.len(), layer.input_shape.len(), "layer {i}: input length");
        let mut y = eval(&st, layer, x, net.spec.padding, net.spec.bn_eps)?;
        if let Some(r) = layer.residual {
            let res = tensors[r].as_deref().unwrap_or_else(|| panic!("layer {i} adds tensor {r} before it is written"));
            assert_eq!(res.len(), y.len(), "layer {i}: residual length");
            for (v, r) in y.iter_mut().zip(res) {
                *v += *r as f64;
            }
        }
        let y: Vec<f32> = y.into_iter().map(|v| v as f32).collect();
        observe(i, &y);
        if let Some(n) = layer.stage {
            let s = layer.output_shape;
            stages.push((format!("features.{n}"), [s.h, s.w, s.c], y.clone()));
        }
        match layer.output {
            Value::Tensor(t) => tensors[t] = Some(y),
            Value::Logits => logits = Some(y),
            Value::Image => panic!("layer {i} writes the image"),
        }
    }
    Ok(Output { stages, logits: logits.expect("the network writes its logits") })
}

fn mac(w: f32, x: f32) -> f64 {
    w as f64 * x as f64
}

/// One layer: convolution (or pooling, or the classifier), BatchNorm, ReLU6; in f64.
fn eval(st: &SafeTensors<'_>, layer: &Layer, x: &[f32], padding: Padding, eps: f64) -> Result<Vec<f64>, Error> {
    let (i, o) = (layer.input_shape, layer.output_shape);
    let conv = || layer.conv.as_deref().expect("a parameterised layer names its weights");
    let weight = |shape: &[usize]| read(st, &format!("{}.weight", conv()), shape);
    let mut y = match layer.op {
        Op::Stem => conv2d(x, i, &weight(&[o.c, 3, 3, 3])?, o.c, 3, 2, padding, 1, mac),
        Op::Pointwise { .. } => conv2d(x, i, &weight(&[o.c, i.c, 1, 1])?, o.c, 1, 1, padding, 1, mac),
        Op::Depthwise { stride } => conv2d(x, i, &weight(&[o.c, 1, 3, 3])?, o.c, 3, stride, padding, i.c, mac),
        Op::AvgPool => (avg_pool(x, i), Shape { h: 1, w: 1, c: i.c }),
        Op::Linear => {
            let w = weight(&[o.c, i.c])?;
            let b = read(st, &format!("{}.bias", conv()), &[o.c])?;
            let y = (0..o.c)
                .map(|k| {
                    b[k] as f64
                        + w[k * i.c..(k + 1) * i.c].iter().zip(x).map(|(w, x)| *w as f64 * *x as f64).sum::<f64>()
                })
                .collect();
            (y, Shape { h: 1, w: 1, c: o.c })
        }
    };
    assert_eq!(y.1, o, "{}: the convolution's output shape disagrees with the IR", conv());
    if let Some(bn) = &layer.bn {
        let field = |f: &str| read(st, &format!("{bn}.{f}"), &[o.c]);
        let (gamma, beta, mean, var) =
            (field("weight")?, field("bias")?, field("running_mean")?, field("running_var")?);
        for px in y.0.chunks_exact_mut(o.c) {
            for (c, v) in px.iter_mut().enumerate() {
                *v = (*v - mean[c] as f64) / (var[c] as f64 + eps).sqrt() * gamma[c] as f64 + beta[c] as f64;
            }
        }
    }
    if matches!(layer.op, Op::Stem | Op::Depthwise { .. } | Op::Pointwise { relu: true }) {
        for v in &mut y.0 {
            *v = v.clamp(0.0, 6.0);
        }
    }
    Ok(y.0)
}

/// PyTorch's `Conv2d` (no bias, padding `k / 2`) with square kernel `k`, or TF's with "SAME"
/// padding, on an HWC input of shape `s`, weights OIHW `[cout, cin / groups, k, k]`. Returns
/// the HWC output and its shape. Each tap adds `mac(weight, input)`; padding adds nothing
/// (zero in f32; the zero point's level in int8, whose `mac` subtracts the zero point).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d<X: Copy, W: Copy, A: Copy + Default + std::ops::AddAssign>(
    x: &[X],
    s: Shape,
    w: &[W],
    cout: usize,
    k: usize,
    stride: usize,
    padding: Padding,
    groups: usize,
    mac: impl Fn(W, X) -> A,
) -> (Vec<A>, Shape) {
    assert!(s.c.is_multiple_of(groups) && cout.is_multiple_of(groups), "channels divisible by groups");
    let (cin_g, cout_g) = (s.c / groups, cout / groups);
    let (ho, wo) = (conv_out(s.h, k, stride, k / 2), conv_out(s.w, k, stride, k / 2));
    let before = |size: usize, out: usize| match padding {
        Padding::Torch => k / 2,
        Padding::Tf => ((out - 1) * stride + k).saturating_sub(size) / 2,
    };
    let (pad_y, pad_x) = (before(s.h, ho) as isize, before(s.w, wo) as isize);
    let mut y = vec![A::default(); ho * wo * cout];
    for oy in 0..ho {
        for ox in 0..wo {
            for co in 0..cout {
                let g = co / cout_g;
                let mut acc = A::default();
                for ky in 0..k {
                    let iy = (oy * stride + ky) as isize - pad_y;
                    if iy < 0 || iy >= s.h as isize {
                        continue;
                    }
                    for kx in 0..k {
                        let ix = (ox * stride + kx) as isize - pad_x;
                        if ix < 0 || ix >= s.w as isize {
                            continue;
                        }
                        let px = (iy as usize * s.w + ix as usize) * s.c;
                        for ci in 0..cin_g {
                            let wv = w[((co * cin_g + ci) * k + ky) * k + kx];
                            acc += mac(wv, x[px + g * cin_g + ci]);
                        }
                    }
                }
                y[(oy * wo + ox) * cout + co] = acc;
            }
        }
    }
    (y, Shape { h: ho, w: wo, c: cout })
}

/// Mean over all pixels of each channel.
fn avg_pool(x: &[f32], s: Shape) -> Vec<f64> {
    let mut sum = vec![0.0f64; s.c];
    for px in x.chunks_exact(s.c) {
        for (a, v) in sum.iter_mut().zip(px) {
            *a += *v as f64;
        }
    }
    let n = (s.h * s.w) as f64;
    sum.into_iter().map(|v| v / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init_weights::{init_weights, init_weights_dtype};
    use std::path::Path;

    const TINY: &str = "name: T\nresolution: 9\nwidth_mult: 0.25\nnum_classes: 3\ninverted_residual_setting: [[1, 8, 1, 1], [2, 8, 2, 2]]\n";

    /// A deterministic image with values in [-2, 2].
    fn image(len: usize) -> Vec<f32> {
        (0..len).map(|i| ((i * 7919 % 1013) as f32 / 1013.0) * 4.0 - 2.0).collect()
    }

    fn tensor(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Vec<f64> {
        read(st, name, shape).unwrap().into_iter().map(f64::from).collect()
    }

    #[test]
    fn tiny_network_shapes_and_a_hand_computed_stem_pixel() {
        let net = crate::compile_str("t.yaml", TINY).unwrap().network;
        let bytes = init_weights(&net, 5);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let x = image(net.input.len());
        let out = run(&net, &bytes, &x).unwrap();

        assert_eq!(out.logits.len(), 3);
        assert_eq!(out.stages.len(), net.stages);
        for (n, (name, shape, data)) in out.stages.iter().enumerate() {
            assert_eq!(name, &format!("features.{n}"));
            assert_eq!(data.len(), shape.iter().product::<usize>());
        }
        // 9x9 input -> stem 5x5x8 (make_divisible(32 * 0.25) = 8) -> 5x5x8 -> 3x3x8 -> 3x3x8
        // -> last conv 3x3x1280.
        let shapes: Vec<[usize; 3]> = out.stages.iter().map(|s| s.1).collect();
        assert_eq!(shapes, [[5, 5, 8], [5, 5, 8], [3, 3, 8], [3, 3, 8], [3, 3, 1280]]);

        // Stem output at (oy, ox, co) = (1, 2, 3), straight from the definition.
        let (oy, ox, co) = (1usize, 2usize, 3usize);
        let w = tensor(&st, "features.0.0.weight", &[8, 3, 3, 3]);
        let mut acc = 0.0;
        for ci in 0..3 {
            for ky in 0..3 {
                for kx in 0..3 {
                    let (iy, ix) = (2 * oy + ky - 1, 2 * ox + kx - 1);
                    acc += w[((co * 3 + ci) * 3 + ky) * 3 + kx] * x[(iy * 9 + ix) * 3 + ci] as f64;
                }
            }
        }
        let bn = |f: &str| tensor(&st, &format!("features.0.1.{f}"), &[8])[co];
        let want = ((acc - bn("running_mean")) / (bn("running_var") + 1e-5).sqrt() * bn("weight") + bn("bias"))
            .clamp(0.0, 6.0);
        let got = out.stages[0].2[(oy * 5 + ox) * 8 + co] as f64;
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "stem pixel {got} vs {want}");
        // And a corner pixel, where padding drops taps: (0, 0) reads only ky, kx >= 1.
        let mut acc = 0.0;
        for ci in 0..3 {
            for ky in 1..3 {
                for kx in 1..3 {
                    acc += w[((co * 3 + ci) * 3 + ky) * 3 + kx] * x[((ky - 1) * 9 + kx - 1) * 3 + ci] as f64;
                }
            }
        }
        let want = ((acc - bn("running_mean")) / (bn("running_var") + 1e-5).sqrt() * bn("weight") + bn("bias"))
            .clamp(0.0, 6.0);
        let got = out.stages[0].2[co] as f64;
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "corner pixel {got} vs {want}");

        // Logits: the pooled last stage through the classifier.
        let last = &out.stages[4].2;
        let wl = tensor(&st, "classifier.1.weight", &[3, 1280]);
        let bl = tensor(&st, "classifier.1.bias", &[3]);
        for k in 0..3 {
            let mut z = bl[k];
            for c in 0..1280 {
                let mean = (0..9).map(|p| last[p * 1280 + c] as f64).sum::<f64>() / 9.0;
                z += wl[k * 1280 + c] * mean;
            }
            assert!(
                (out.logits[k] as f64 - z).abs() <= 1e-5 * z.abs().max(1e-2),
                "logit {k}: {} vs {z}",
                out.logits[k]
            );
        }
    }

    #[test]
    fn residual_block_adds_its_input() {
        // features.3 (the second repeat of the last row) has stride 1 and equal channels.
        let net = crate::compile_str("t.yaml", TINY).unwrap().network;
        let block = net.layers.iter().find(|l| l.stage == Some(3)).unwrap();
        assert!(block.residual.is_some());
        let bytes = init_weights(&net, 11);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let out = run(&net, &bytes, &image(net.input.len())).unwrap();
        // Recompute features.3 from features.2: expand 1x1 (8 -> 16) + BN + ReLU6, depthwise
        // 3x3 + BN + ReLU6, project 1x1 (16 -> 8) + BN, plus features.2.
        let x2: Vec<f64> = out.stages[2].2.iter().map(|v| *v as f64).collect();
        let bn = |p: &str, v: f64, c: usize, n: usize| {
            let f = |f: &str| tensor(&st, &format!("{p}.{f}"), &[n])[c];
            (v - f("running_mean")) / (f("running_var") + 1e-5).sqrt() * f("weight") + f("bias")
        };
        let we = tensor(&st, "features.3.conv.0.0.weight", &[16, 8, 1, 1]);
        let mut e = vec![0.0; 9 * 16];
        for p in 0..9 {
            for co in 0..16 {
                let acc: f64 = (0..8).map(|ci| we[co * 8 + ci] * x2[p * 8 + ci]).sum();
                e[p * 16 + co] = bn("features.3.conv.0.1", acc, co, 16).clamp(0.0, 6.0);
            }
        }
        let wd = tensor(&st, "features.3.conv.1.0.weight", &[16, 1, 3, 3]);
        let mut d = vec![0.0; 9 * 16];
        for y in 0..3i64 {
            for xx in 0..3i64 {
                for c in 0..16 {
                    let mut acc = 0.0;
                    for ky in 0..3i64 {
                        for kx in 0..3i64 {
                            let (iy, ix) = (y + ky - 1, xx + kx - 1);
                            if (0..3).contains(&iy) && (0..3).contains(&ix) {
                                acc += wd[c * 9 + (ky * 3 + kx) as usize] * e[((iy * 3 + ix) as usize) * 16 + c];
                            }
                        }
                    }
                    d[(y * 3 + xx) as usize * 16 + c] = bn("features.3.conv.1.1", acc, c, 16).clamp(0.0, 6.0);
                }
            }
        }
        let wp = tensor(&st, "features.3.conv.2.weight", &[8, 16, 1, 1]);
        for p in 0..9 {
            for co in 0..8 {
                let acc: f64 = (0..16).map(|ci| wp[co * 16 + ci] * d[p * 16 + ci]).sum();
                let want = bn("features.3.conv.3", acc, co, 8) + x2[p * 8 + co];
                let got = out.stages[3].2[p * 8 + co] as f64;
                assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "features.3[{p}, {co}]: {got} vs {want}");
            }
        }
    }

    #[test]
    fn half_precision_weights_run() {
        let net = crate::compile_str("t.yaml", TINY).unwrap().network;
        let x = image(net.input.len());
        let full = run(&net, &init_weights(&net, 2), &x).unwrap();
        let half = run(&net, &init_weights_dtype(&net, 2, safetensors::Dtype::F16), &x).unwrap();
        let scale = full.logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (a, b) in full.logits.iter().zip(&half.logits) {
            assert!((a - b).abs() <= 0.05 * scale, "{a} vs {b}");
        }
    }

    #[test]
    fn errors() {
        let net = crate::compile_str("t.yaml", TINY).unwrap().network;
        let bytes = init_weights(&net, 1);
        assert_eq!(run(&net, &bytes, &[0.0; 5]), Err(Error::InputLength { expected: 243, found: 5 }));
        let x = image(net.input.len());
        assert!(matches!(run(&net, b"not a file", &x), Err(Error::NotSafetensors { .. })));
        // Weights of another width: the first tensor read names itself.
        let other = crate::compile_str("t.yaml", &TINY.replace("0.25", "0.5")).unwrap().network;
        let err = run(&net, &init_weights(&other, 1), &x).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { ref name, .. } if name == "features.0.0.weight"), "{err}");
    }

    /// Run the spec `models/<yaml>` on image 0 of `fixtures/<case>/io.safetensors` and
    /// compare every stage and the logits with the torchvision outputs recorded there.
    fn check_fixture(yaml: &str, case: &str) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let weights = std::fs::read(root.join(format!("models/{case}.safetensors"))).unwrap();
        let io = std::fs::read(root.join(format!("fixtures/{case}/io.safetensors"))).unwrap();
        let io = SafeTensors::deserialize(&io).unwrap();
        let spec = std::fs::read_to_string(root.join("models").join(yaml)).unwrap();
        let net = crate::compile_str(yaml, &spec).unwrap().network;
        let (h, w, classes) = (net.input.h, net.input.w, net.num_classes());
        let input = read(&io, "input_nhwc", &[2, h, w, 3]).unwrap();
        let out = run(&net, &weights, &input[..net.input.len()]).unwrap();
        assert_eq!(out.stages.len(), net.stages);
        for (name, shape, got) in &out.stages {
            let want = read(&io, name, shape).unwrap();
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
            let diff = got.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            eprintln!("{case} {name}: max |diff| {diff:e}, max |value| {scale}");
            assert!(diff <= 1e-4 * scale, "{case} {name}: max |diff| {diff}, max |value| {scale}");
        }
        let want = read(&io, "logits", &[2, classes]).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = out.logits.iter().zip(&want[..classes]).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{case} logits: max |diff| {diff:e}, max |value| {scale}");
        assert!(diff <= 1e-4 * scale.max(1.0), "{case} logits: max |diff| {diff}");
    }

    #[test]
    fn matches_torchvision_on_the_small_fixture() {
        check_fixture("v2_0.35_96_c10.yaml", "v2_0.35_96_c10");
    }

    #[test]
    fn matches_torchvision_on_the_full_fixture() {
        check_fixture("v2.yaml", "v2_1.0_224");
    }
}
