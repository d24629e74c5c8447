//! Post-training int8 quantization of a network with weights, and its int8 reference
//! interpreter.
//!
//! TFLite's scheme (the arithmetic is [`arith`]): per-channel symmetric int8 weights with
//! BatchNorm folded in first, i32 biases, per-tensor asymmetric 8-bit activations whose ranges
//! come from running the float model over calibration images ([`calibrate`]: min/max), i32
//! accumulation, requantization by fixed-point multipliers, ReLU6 as a clamp, the residual add
//! rescaled into the block's output with a single rounding, average pooling in the input's
//! scale, and the classifier's accumulators dequantized to f32 logits.
//!
//! `pack` lays the result out for the kernels (`mobilenet_kernels::int8`) and codegen bakes it
//! into the model; `executor` runs the same kernels with run-time shapes, for tests.

pub mod arith;
pub mod calibrate;
pub mod executor;
pub mod interpreter;
pub mod pack;

use crate::ir::{Network, Op, Value};
use crate::passes::Program;
use arith::{quantize_weights, Multiplier, QParams};
use calibrate::Ranges;
use mobilenet_kernels::checkpoint::load_folded;

/// How a layer's i32 accumulators become its output.
#[derive(Clone, Debug, PartialEq)]
pub enum Requant {
    /// 8-bit levels in `output`'s parameters: `zero_point + round(acc * multipliers[c])`
    /// (plus `(r - r.zero_point) * residual[c]` for a residual block, one rounding), clamped.
    Levels {
        output: QParams,
        multipliers: Vec<Multiplier>,
        /// For a residual block: the shortcut's parameters and multipliers (each sharing its
        /// channel's shift with `multipliers`).
        residual: Option<(QParams, Vec<Multiplier>)>,
        clamp: (u8, u8),
    },
    /// Average pooling: the rounded mean of the levels, in the input's parameters.
    Mean,
    /// The classifier: f32 logits `acc as f32 * scales[c]`.
    Logits { scales: Vec<f32> },
}

/// One quantized layer; the IR layer of the same index says what it computes.
#[derive(Clone, Debug, PartialEq)]
pub struct QLayer {
    /// Symmetric int8 weights in torchvision's layout (`[cout, cin / groups, k, k]`,
    /// `[cout, cin]` for the classifier); empty for pooling.
    pub weight: Vec<i8>,
    pub weight_scales: Vec<f32>,
    /// Per output channel, in units of `input.scale * weight_scales[c]`.
    pub bias: Vec<i32>,
    pub input: QParams,
    pub requant: Requant,
}

impl QLayer {
    /// The output's quantization parameters (`None`: f32 logits).
    pub fn output(&self) -> Option<QParams> {
        match &self.requant {
            Requant::Levels { output, .. } => Some(*output),
            Requant::Mean => Some(self.input),
            Requant::Logits { .. } => None,
        }
    }
}

/// A network quantized to int8.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedNetwork {
    pub network: Network,
    /// The image's quantization (the float image is quantized on the way in).
    pub image: QParams,
    pub layers: Vec<QLayer>,
    /// The calibrated float ranges the parameters were chosen from.
    pub ranges: Ranges,
}

/// Biases beyond this many accumulator units are saturated, so that no accumulator can
/// overflow an i32: with at most [`MAX_INT8_DEPTH`] products of a level (distance from the zero
/// point below 256) and a weight (`|w| <= 127`) each, the rest stays below 2^31 - 2^30.
const BIAS_LIMIT: f64 = (1u32 << 30) as f64;

/// The most products one int8 output accumulates (input channels of a 1x1 convolution or of
/// the classifier; 9 for a depthwise, 27 for the stem): `255 * 127 * depth < 2^30`.
pub const MAX_INT8_DEPTH: usize = 33_000;

/// `Err` naming the first layer of `net` whose outputs accumulate more than [`MAX_INT8_DEPTH`]
/// products, so that its int8 accumulators could overflow an i32.
pub fn check_depth(net: &Network) -> Result<(), String> {
    for layer in &net.layers {
        let depth = match layer.op {
            Op::Pointwise { .. } | Op::Linear => layer.input_shape.c,
            Op::Depthwise { .. } => 9,
            Op::Stem => 27,
            Op::AvgPool => 0,
        };
        if depth > MAX_INT8_DEPTH {
            return Err(format!(
                "layer `{}` sums {depth} products per output, more than the {MAX_INT8_DEPTH} an int8 model's 32-bit accumulators hold; narrow the channels it reads or use `precision: f32`",
                layer.conv.as_deref().unwrap_or("?")
            ));
        }
    }
    Ok(())
}

/// Quantize `program`'s network with torchvision `weights`, calibrated on `n` HWC images
/// (`images`, concatenated, in the model's input scaling). `Err` says what is wrong: weights
/// that do not load, a layer too deep for i32 accumulators ([`check_depth`]), or weights so
/// large that the float model overflows f32 on the images or a scale does.
pub fn quantize(program: &Program, weights: &[u8], images: &[f32], n: usize) -> Result<QuantizedNetwork, String> {
    let net = &program.network;
    check_depth(net)?;
    let folded =
        load_folded(weights, &program.params.loader_layers(), program.params.bn_eps).map_err(|e| e.to_string())?;
    let ranges = calibrate::calibrate(net, weights, images, n).map_err(|e| e.to_string())?;
    let overflow = |layer: &crate::ir::Layer, what: &str| {
        format!(
            "{what} of layer `{}` is not finite in f32: weights this large overflow it; check the weights",
            layer.conv.as_deref().unwrap_or("?")
        )
    };
    if let Some((layer, _)) = net.layers.iter().zip(&ranges.layers).find(|(_, r)| !(r.0.is_finite() && r.1.is_finite()))
    {
        return Err(overflow(layer, "on the calibration images, the float output"));
    }
    let image = ranges.image_params();
    // The parameters of every tensor, from the layer that writes it (pooling keeps its input's).
    let mut tensor_params = vec![None; net.tensors.len()];
    let mut layers = Vec::with_capacity(net.layers.len());
    for (i, layer) in net.layers.iter().enumerate() {
        let input = match layer.input {
            Value::Image => image,
            Value::Tensor(t) => tensor_params[t].expect("a layer's input is written before it"),
            Value::Logits => unreachable!("no layer reads the logits"),
        };
        let q = match layer.op {
            Op::AvgPool => {
                QLayer { weight: vec![], weight_scales: vec![], bias: vec![], input, requant: Requant::Mean }
            }
            _ => {
                let entry =
                    program.params.entries.iter().position(|e| e.layer == i).expect("a convolution has parameters");
                let f = &folded[entry];
                let cout = layer.output_shape.c;
                let (weight, weight_scales) = quantize_weights(&f.weight, cout);
                let unit = |c: usize| f64::from(input.scale) * f64::from(weight_scales[c]);
                let bias = (0..cout)
                    .map(|c| (f64::from(f.bias[c]) / unit(c)).round().clamp(-BIAS_LIMIT, BIAS_LIMIT) as i32)
                    .collect();
                let requant = if layer.op == Op::Linear {
                    let scales: Vec<f32> = (0..cout).map(|c| unit(c) as f32).collect();
                    if !scales.iter().all(|s| s.is_finite()) {
                        return Err(overflow(layer, "the logits' scale"));
                    }
                    Requant::Logits { scales }
                } else {
                    let output = ranges.layer_params(i);
                    let relu6 = matches!(layer.op, Op::Stem | Op::Depthwise { .. } | Op::Pointwise { relu: true });
                    let shortcut = layer.residual.map(|r| tensor_params[r].expect("the shortcut is written before"));
                    let (multipliers, residual) = match shortcut {
                        None => ((0..cout).map(|c| Multiplier::new(unit(c) / f64::from(output.scale))).collect(), None),
                        Some(r) => {
                            let m_res = f64::from(r.scale) / f64::from(output.scale);
                            let pairs: Vec<Vec<Multiplier>> = (0..cout)
                                .map(|c| Multiplier::common(&[unit(c) / f64::from(output.scale), m_res]))
                                .collect();
                            (pairs.iter().map(|p| p[0]).collect(), Some((r, pairs.iter().map(|p| p[1]).collect())))
                        }
                    };
                    Requant::Levels { output, multipliers, residual, clamp: output.clamp_bounds(relu6) }
                };
                QLayer { weight, weight_scales, bias, input, requant }
            }
        };
        if let Value::Tensor(t) = layer.output {
            tensor_params[t] = q.output();
        }
        layers.push(q);
    }
    Ok(QuantizedNetwork { network: net.clone(), image, layers, ranges })
}
