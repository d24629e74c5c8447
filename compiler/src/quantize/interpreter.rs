//! The int8 reference interpreter: direct loops over a [`QuantizedNetwork`], i32 accumulation,
//! the requantization of [`super::arith`]. Every int8 kernel must match it bit for bit.

use super::arith::{requantize, requantize_add, QParams};
use super::{QuantizedNetwork, Requant};
use crate::ir::{Op, Value};
use crate::reference::conv2d;
use mobilenet_kernels::Error;

/// What the interpreter computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// `("features.N", [h, w, c], levels, parameters)` for every stage, in order; HWC.
    pub stages: Vec<(String, [usize; 3], Vec<u8>, QParams)>,
    pub logits: Vec<f32>,
}

/// Run `q` on one HWC float image (the model's input scaling); it is quantized first.
///
/// # Panics
///
/// Only on a malformed network (a tensor read before it is written), a compiler bug.
pub fn run(q: &QuantizedNetwork, input_hwc: &[f32]) -> Result<Output, Error> {
    let net = &q.network;
    if input_hwc.len() != net.input.len() {
        return Err(Error::InputLength { expected: net.input.len(), found: input_hwc.len() });
    }
    let image: Vec<u8> = input_hwc.iter().map(|&x| q.image.quantize(x)).collect();
    let mut tensors: Vec<Option<Vec<u8>>> = vec![None; net.tensors.len()];
    let mut stages = Vec::new();
    let mut logits = None;
    for (i, (layer, ql)) in net.layers.iter().zip(&q.layers).enumerate() {
        let read = |t: usize| {
            tensors[t].as_deref().unwrap_or_else(|| panic!("layer {i} reads tensor {t} before it is written"))
        };
        let x: &[u8] = match layer.input {
            Value::Image => &image,
            Value::Tensor(t) => read(t),
            Value::Logits => panic!("layer {i} reads the logits"),
        };
        let (s, o) = (layer.input_shape, layer.output_shape);
        let zp = ql.input.zero_point;
        let mac = |w: i8, x: u8| i32::from(w) * (i32::from(x) - zp);
        let pad = net.spec.padding;
        let acc: Vec<i32> = match layer.op {
            Op::Stem => conv2d(x, s, &ql.weight, o.c, 3, 2, pad, 1, mac).0,
            Op::Pointwise { .. } => conv2d(x, s, &ql.weight, o.c, 1, 1, pad, 1, mac).0,
            Op::Depthwise { stride } => conv2d(x, s, &ql.weight, o.c, 3, stride, pad, s.c, mac).0,
            Op::Linear => (0..o.c)
                .map(|c| ql.weight[c * s.c..(c + 1) * s.c].iter().zip(x).map(|(&w, &x)| mac(w, x)).sum())
                .collect(),
            Op::AvgPool => {
                let n = (s.h * s.w) as u32;
                let mut sum = vec![0u32; s.c];
                for px in x.chunks_exact(s.c) {
                    for (a, &v) in sum.iter_mut().zip(px) {
                        *a += u32::from(v);
                    }
                }
                sum.iter().map(|&a| ((a + n / 2) / n) as i32).collect()
            }
        };
        assert_eq!(acc.len(), o.len(), "layer {i}: output length");
        let c = o.c;
        // Only layers with weights (all but pooling) have biases, and only they read one.
        let bias = |k: usize| ql.bias[k % c];
        let y: Vec<u8> = match &ql.requant {
            Requant::Mean => acc.iter().map(|&v| v as u8).collect(),
            Requant::Logits { scales } => {
                logits = Some(acc.iter().enumerate().map(|(k, &a)| (a + bias(k)) as f32 * scales[k]).collect());
                continue;
            }
            Requant::Levels { output, multipliers, residual, clamp } => match residual {
                None => acc
                    .iter()
                    .enumerate()
                    .map(|(k, &a)| requantize(a + bias(k), multipliers[k % c], output.zero_point, *clamp))
                    .collect(),
                Some((rq, m_res)) => {
                    let r = read(layer.residual.expect("a residual layer has a shortcut"));
                    acc.iter()
                        .zip(r)
                        .enumerate()
                        .map(|(k, (&a, &r))| {
                            let r = i32::from(r) - rq.zero_point;
                            requantize_add(a + bias(k), multipliers[k % c], r, m_res[k % c], output.zero_point, *clamp)
                        })
                        .collect()
                }
            },
        };
        if let (Some(n), Some(params)) = (layer.stage, ql.output()) {
            stages.push((format!("features.{n}"), [o.h, o.w, o.c], y.clone(), params));
        }
        match layer.output {
            Value::Tensor(t) => tensors[t] = Some(y),
            Value::Logits | Value::Image => panic!("layer {i} writes levels outside the arena"),
        }
    }
    Ok(Output { stages, logits: logits.expect("the network writes its logits") })
}
