//! Reading torchvision `state_dict` checkpoints (safetensors), folding BatchNorm into the
//! convolutions and packing the result for the kernels.

use crate::layout::ParamLayer;
use crate::Error;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeSet;

const NON_FINITE: &str = "NaN or infinity (after folding BatchNorm)";

/// BatchNorm epsilon of torchvision's MobileNetV2 (Keras's is 1e-3).
pub const TORCH_BN_EPS: f64 = 1e-5;

/// Load, fold (BatchNorm epsilon `bn_eps`) and pack every layer of `layers` from safetensors
/// `bytes` into a parameter buffer of `total` floats.
///
/// Every tensor of the file must be used, except BatchNorm's `num_batches_tracked`.
pub fn load_params(bytes: &[u8], layers: &[ParamLayer<'_>], total: usize, bn_eps: f64) -> Result<Vec<f32>, Error> {
    let mut params = vec![0.0f32; total];
    for (layer, folded) in layers.iter().zip(load_folded(bytes, layers, bn_eps)?) {
        let end = layer.offset + layer.kind.packed_len();
        layer.kind.pack(&folded.weight, &folded.bias, &mut params[layer.offset..end]);
    }
    Ok(params)
}

/// One layer's parameters with BatchNorm folded in, in torchvision's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    /// `[cout, cin / groups, k, k]` (`[cout, cin]` for Linear), row-major.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Load and fold (BatchNorm epsilon `bn_eps`) every layer of `layers` from safetensors `bytes`,
/// in order, unpacked. The same checks as [`load_params`].
pub fn load_folded(bytes: &[u8], layers: &[ParamLayer<'_>], bn_eps: f64) -> Result<Vec<Folded>, Error> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| Error::NotSafetensors { reason: e.to_string() })?;
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        let cout = layer.kind.cout();
        let w_name = format!("{}.weight", layer.conv);
        let mut w = read(&st, &w_name, &layer.kind.torch_shape())?;
        used.insert(w_name);
        let b = match layer.bn {
            Some(bn) => {
                let mut bn_t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
                for (slot, field) in bn_t.iter_mut().zip(["weight", "bias", "running_mean", "running_var"]) {
                    let name = format!("{bn}.{field}");
                    *slot = read(&st, &name, &[cout])?;
                    used.insert(name);
                }
                let [gamma, beta, mean, var] = bn_t;
                let var_name = format!("{bn}.running_var");
                if let Some(index) = var.iter().position(|&v| v.is_nan() || v as f64 + bn_eps <= 0.0) {
                    let reason = "a BatchNorm running_var must be >= 0";
                    return Err(Error::InvalidValue { name: var_name, index, reason });
                }
                fold_bn(&mut w, &gamma, &beta, &mean, &var, bn_eps)
            }
            None => {
                let name = format!("{}.bias", layer.conv);
                let b = read(&st, &name, &[cout])?;
                used.insert(name);
                b
            }
        };
        if let Some(index) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidValue { name: format!("{}.weight", layer.conv), index, reason: NON_FINITE });
        }
        if let Some(index) = b.iter().position(|v| !v.is_finite()) {
            let name = match layer.bn {
                Some(bn) => format!("{bn}.bias"),
                None => format!("{}.bias", layer.conv),
            };
            return Err(Error::InvalidValue { name, index, reason: NON_FINITE });
        }
        out.push(Folded { weight: w, bias: b });
    }
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    for name in names {
        if used.contains(name) {
            continue;
        }
        let tracked_of_used_bn =
            name.strip_suffix(".num_batches_tracked").is_some_and(|bn| used.contains(&format!("{bn}.running_var")));
        if !tracked_of_used_bn {
            let shape = st.tensor(name).map(|t| t.shape().to_vec()).unwrap_or_default();
            return Err(Error::UnexpectedTensor { name: name.to_string(), shape });
        }
    }
    Ok(out)
}

/// Fold `y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta` into the conv weights (in place,
/// rows of `w` are output channels) and return the bias.
pub fn fold_bn(w: &mut [f32], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f64) -> Vec<f32> {
    let cout = gamma.len();
    let per_out = w.len() / cout.max(1);
    let mut bias = Vec::with_capacity(cout);
    for co in 0..cout {
        let scale = gamma[co] as f64 / (var[co] as f64 + eps).sqrt();
        for v in &mut w[co * per_out..(co + 1) * per_out] {
            *v = (*v as f64 * scale) as f32;
        }
        bias.push((beta[co] as f64 - mean[co] as f64 * scale) as f32);
    }
    bias
}

/// Read tensor `name` as f32, checking its shape.
pub fn read(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
    let t =
        st.tensor(name).map_err(|_| Error::MissingTensor { name: name.to_string(), expected_shape: shape.to_vec() })?;
    if t.shape() != shape {
        return Err(Error::ShapeMismatch {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: t.shape().to_vec(),
        });
    }
    to_f32(t.dtype(), t.data())
        .ok_or_else(|| Error::UnsupportedDtype { name: name.to_string(), found: format!("{:?}", t.dtype()) })
}

/// Little-endian tensor bytes to f32, for the float dtypes torchvision checkpoints use.
pub fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        Dtype::BF16 => {
            data.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect()
        }
        _ => return None,
    })
}

/// IEEE half to single precision, subnormals, infinities and NaN included.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24, exact in f32.
            let v = m as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn folding_matches_batchnorm() {
        // torchvision's epsilon and Keras's: a folded model must use the one it was trained with.
        for eps in [TORCH_BN_EPS, 1e-3] {
            let mut w = vec![1.0, 2.0, -1.0, 0.5];
            let b = fold_bn(&mut w, &[2.0, 0.5], &[0.1, -0.2], &[0.3, 1.0], &[4.0, 0.25], eps);
            let s0 = 2.0 / (4.0f64 + eps).sqrt();
            let s1 = 0.5 / (0.25f64 + eps).sqrt();
            assert!((w[1] as f64 - 2.0 * s0).abs() < 1e-6);
            assert!((w[2] as f64 + s1).abs() < 1e-6);
            assert!((b[0] as f64 - (0.1 - 0.3 * s0)).abs() < 1e-6);
            assert!((b[1] as f64 - (-0.2 - 1.0 * s1)).abs() < 1e-6);
        }
    }
}
