//! The int8 parameters as the kernels read them: one little-endian byte blob (baked into the
//! binary) holding each layer's weights in the kernels' layout and its i32 biases,
//! multipliers and shifts (f32 scales for the classifier), every array 64-byte aligned.

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

/// Depthwise weights from torchvision's `[c][ky][kx]` to tap-major `[ky][kx][c]`.
fn tap_major(w: &[i8], c: usize) -> Vec<i8> {
    (0..9).flat_map(|t| (0..c).map(move |ch| w[ch * 9 + t])).collect()
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
            let w = match layer.op {
                Op::Depthwise { .. } => tap_major(&ql.weight, layer.output_shape.c),
                _ => ql.weight.clone(),
            };
            let weight = push(&mut blob, w.iter().map(|&v| v as u8));
            let bias = push(&mut blob, words(ql.bias.iter().copied()));
            let (mut m, mut shift, mut shortcut_m, mut scales) = ((0, 0), (0, 0), None, None);
            match &ql.requant {
                Requant::Levels { multipliers, residual, .. } => {
                    m = push(&mut blob, words(multipliers.iter().map(|x| x.m)));
                    shift = push(&mut blob, words(multipliers.iter().map(|x| x.shift as i32)));
                    shortcut_m = residual.as_ref().map(|(_, r)| push(&mut blob, words(r.iter().map(|x| x.m))));
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
