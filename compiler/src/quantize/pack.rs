//! The int8 parameters as the kernels read them: one little-endian byte blob (baked into the
//! binary) holding each layer's weights in the kernels' layout and its i32 biases,
//! multipliers and shifts (f32 scales for the classifier), every array 64-byte aligned.
//!
//! Layouts: the stem tap-major `[ci][ky][kx][cout]`; depthwise tap-major `[ky][kx][c]`; 1x1
//! convolutions in tiles of 16 output channels, `[k / 4][16][4]` (what `vpdpbusd` reads), with
//! the input's zero point folded into the bias and every per-channel array padded to whole
//! tiles; the classifier `[cout][cin]`.

use super::{QLayer, QuantizedNetwork, Requant};
use crate::ir::Op;

/// `(offset, len)` in bytes of the blob.
pub type Span = (usize, usize);

/// Where one layer's arrays are in the blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedLayer {
    pub weight: Span,
    pub bias: Span,
    /// Per-channel multipliers and shifts (empty for the classifier).
    pub m: Span,
    pub shift: Span,
    /// A residual block's shortcut multipliers.
    pub shortcut_m: Option<Span>,
    /// The classifier's f32 logit scales.
    pub scales: Option<Span>,
}

/// The blob and each layer's place in it (`None`: pooling, which has no parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct Packed {
    pub blob: Vec<u8>,
    pub layers: Vec<Option<PackedLayer>>,
}

const ALIGN: usize = 64;

fn push(blob: &mut Vec<u8>, bytes: impl IntoIterator<Item = u8>) -> Span {
    blob.resize(blob.len().next_multiple_of(ALIGN), 0);
    let start = blob.len();
    blob.extend(bytes);
    (start, blob.len() - start)
}

fn words(v: impl IntoIterator<Item = i32>) -> impl Iterator<Item = u8> {
    v.into_iter().flat_map(i32::to_le_bytes)
}

/// Weights from torchvision's `[c][taps]` to tap-major `[taps][c]`.
fn tap_major(w: &[i8], c: usize) -> Vec<i8> {
    let taps = w.len() / c;
    (0..taps).flat_map(|t| (0..c).map(move |ch| w[ch * taps + t])).collect()
}

/// A 1x1 convolution's `[n][k]` weights in tiles of 16 channels, `[k / 4][16][4]`, zero-padded.
fn tiles16(w: &[i8], k: usize, n: usize) -> Vec<i8> {
    let k4 = k.div_ceil(4);
    let mut out = vec![0i8; n.div_ceil(16) * k4 * 64];
    for c in 0..n {
        for kk in 0..k {
            out[((c / 16) * k4 + kk / 4) * 64 + (c % 16) * 4 + kk % 4] = w[c * k + kk];
        }
    }
    out
}

/// `v` padded with `fill` to whole tiles of 16.
fn padded(v: impl IntoIterator<Item = i32>, fill: i32) -> Vec<i32> {
    let mut v: Vec<i32> = v.into_iter().collect();
    v.resize(v.len().next_multiple_of(16), fill);
    v
}

pub fn pack(q: &QuantizedNetwork) -> Packed {
    let mut blob = Vec::new();
    let layers = q
        .network
        .layers
        .iter()
        .zip(&q.layers)
        .map(|(layer, ql): (_, &QLayer)| {
            if layer.op == Op::AvgPool {
                return None;
            }
            let (k, n) = (layer.input_shape.c, layer.output_shape.c);
            let pointwise = matches!(layer.op, Op::Pointwise { .. });
            let w = match layer.op {
                Op::Depthwise { .. } | Op::Stem => tap_major(&ql.weight, n),
                Op::Pointwise { .. } => tiles16(&ql.weight, k, n),
                _ => ql.weight.clone(),
            };
            let weight = push(&mut blob, w.iter().map(|&v| v as u8));
            let bias: Vec<i32> = if pointwise {
                // sum(w * (x - zp)) = sum(w * x) - zp * sum(w): the kernels read levels as they are.
                let zp = i64::from(ql.input.zero_point);
                let folded = (0..n).map(|c| {
                    let sum: i64 = ql.weight[c * k..(c + 1) * k].iter().map(|&v| i64::from(v)).sum();
                    i32::try_from(i64::from(ql.bias[c]) - zp * sum).expect("a folded bias fits an i32")
                });
                padded(folded, 0)
            } else {
                ql.bias.clone()
            };
            let bias = push(&mut blob, words(bias));
            let (mut m, mut shift, mut shortcut_m, mut scales) = ((0, 0), (0, 0), None, None);
            let pad = |v: Vec<i32>, fill: i32| if pointwise { padded(v, fill) } else { v };
            match &ql.requant {
                Requant::Levels { multipliers, residual, .. } => {
                    m = push(&mut blob, words(pad(multipliers.iter().map(|x| x.m).collect(), 0)));
                    shift = push(&mut blob, words(pad(multipliers.iter().map(|x| x.shift as i32).collect(), 1)));
                    shortcut_m =
                        residual.as_ref().map(|(_, r)| push(&mut blob, words(pad(r.iter().map(|x| x.m).collect(), 0))));
                }
                Requant::Logits { scales: s } => {
                    scales = Some(push(&mut blob, s.iter().flat_map(|v| v.to_le_bytes())));
                }
                Requant::Mean => unreachable!("only pooling averages"),
            }
            Some(PackedLayer { weight, bias, m, shift, shortcut_m, scales })
        })
        .collect();
    blob.resize(blob.len().next_multiple_of(ALIGN), 0);
    Packed { blob, layers }
}
