//! The quickstart's library part: photo preprocessing, the photo model and the small helpers
//! that the binary, the `classify` example and the tests share.
#![forbid(unsafe_code)]

pub mod photo;

/// The `classify` example's model (`photo.yaml`: the Keras reference MobileNetV2 0.5-128, taking
/// 8-bit frames), compiled here once for the example and its tests.
pub mod model {
    mobilenet_runtime::mobilenet!("photo.yaml");
}

pub use model::KerasPhoto;

/// Softmax of `logits`, computed stably (the largest logit subtracted first).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
}

/// Little-endian f32 tensor bytes (safetensors' `F32`) as floats.
pub fn le_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Indices of the `k` largest values, largest first (ties: the lower index first).
pub fn top_k(v: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.truncate(k);
    idx
}
