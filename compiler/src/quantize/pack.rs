//! The int8 parameters as the kernels read them: one little-endian byte blob (baked into the
//! binary) holding each layer's weights in the kernels' layout and its i32 biases,
//! multipliers and shifts (f32 scales for the classifier), every array 64-byte aligned.
//!
//! Layouts: the stem, 1x1 convolutions and the classifier in tiles of 16 output channels,
//! `[k / 4][16][4]` (what `vpdpbusd` reads; the stem's `k` ordered `[ky][kx][ci]`, as its
//! input patches are), with the input's zero point folded into the bias and every per-channel
//! array padded to whole tiles; depthwise weights tap-major `[ky][kx][c]` with the per-channel
//! arrays in groups of 64 channels, each group in the order the VNNI depthwise's accumulators
//! take them (`mobilenet_kernels::int8::dw_lane`), padded to whole groups.

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

/// The stem's `[cout][ci][ky][kx]` weights as `[cout][ky][kx][ci]`.
fn stem_rows_major(w: &[i8], n: usize) -> Vec<i8> {
    (0..n).flat_map(|c| (0..27).map(move |k| w[c * 27 + (k % 3) * 9 + k / 3])).collect()
}

/// `v` padded with `fill` to a whole number of `to`.
fn padded<T: Copy>(v: impl IntoIterator<Item = T>, fill: T, to: usize) -> Vec<T> {
    let mut v: Vec<T> = v.into_iter().collect();
    v.resize(v.len().next_multiple_of(to), fill);
    v
}

/// A depthwise layer's per-channel array in groups of 64 in `dw_lane` order, padded with `fill`.
fn dw_lanes(v: &[i32], fill: i32) -> Vec<i32> {
    let mut out = vec![fill; v.len().next_multiple_of(64)];
    for (c, &x) in v.iter().enumerate() {
        out[mobilenet_kernels::int8::dw_lane(c)] = x;
    }
    out
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
            // `[n][k]` weights, with `k` in the order the kernels read it.
            let (wk, k) = match layer.op {
                Op::Stem => (stem_rows_major(&ql.weight, n), 27),
                _ => (ql.weight.clone(), k),
            };
            let tiled = !matches!(layer.op, Op::Depthwise { .. });
            let w = if tiled { tiles16(&wk, k, n) } else { tap_major(&wk, n) };
            let weight = push(&mut blob, w.iter().map(|&v| v as u8));
            // Tiled layers: 16-channel tiles; depthwise: 64-channel groups in `dw_lane` order.
            let lay = |v: Vec<i32>, fill: i32| if tiled { padded(v, fill, 16) } else { dw_lanes(&v, fill) };
            let bias: Vec<i32> = if tiled {
                // sum(w * (x - zp)) = sum(w * x) - zp * sum(w): the kernels read levels as they are.
                let zp = i64::from(ql.input.zero_point);
                (0..n)
                    .map(|c| {
                        let sum: i64 = wk[c * k..(c + 1) * k].iter().map(|&v| i64::from(v)).sum();
                        i32::try_from(i64::from(ql.bias[c]) - zp * sum).expect("a folded bias fits an i32")
                    })
                    .collect()
            } else {
                ql.bias.clone()
            };
            let bias = push(&mut blob, words(lay(bias, 0)));
            let (mut m, mut shift, mut shortcut_m, mut scales) = ((0, 0), (0, 0), None, None);
            match &ql.requant {
                Requant::Levels { multipliers, residual, .. } => {
                    m = push(&mut blob, words(lay(multipliers.iter().map(|x| x.m).collect(), 0)));
                    shift = push(
                        &mut blob,
                        words(lay(
                            multipliers.iter().map(|x| x.shift as i32).collect(),
                            mobilenet_kernels::int8::PAD_SHIFT,
                        )),
                    );
                    shortcut_m =
                        residual.as_ref().map(|(_, r)| push(&mut blob, words(lay(r.iter().map(|x| x.m).collect(), 0))));
                }
                Requant::Logits { scales: s } => {
                    let s = padded(s.iter().copied(), 0.0, 16);
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
