//! Random weights under torchvision's `state_dict` names, as a safetensors file: what
//! `mobilenet-compiler init-weights` writes and what tests load when no trained checkpoint is
//! at hand. Deterministic for a seed (a hand-written splitmix64 generator, no `rand`).

use crate::ir::{Network, Op};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Value of every BatchNorm's `num_batches_tracked` (torchvision stores it; loaders skip it).
pub const NUM_BATCHES_TRACKED: i64 = 100;

/// Random f32 weights for `net`, as safetensors bytes. Same as
/// `init_weights_dtype(net, seed, Dtype::F32)`.
pub fn init_weights(net: &Network, seed: u64) -> Vec<u8> {
    init_weights_dtype(net, seed, Dtype::F32)
}

/// Random weights for `net` with every float tensor stored as `dtype` (F32, F16 or BF16); the
/// numbers drawn are the same for every dtype (they are drawn in f32 and rounded to nearest,
/// ties to even).
///
/// - convolutions: He-normal, std = sqrt(2 / fan_in), fan_in = product of `shape[1..]`;
/// - `classifier.1`: weight ~ N(0, 0.01), bias ~ N(0, 0.01);
/// - BatchNorm: `weight` ~ U(0.5, 1.5), `bias` ~ N(0, 0.1), `running_mean` ~ N(0, 0.1),
///   `running_var` ~ U(0.5, 2.0), `num_batches_tracked` = 100 (I64 scalar).
///
/// # Panics
///
/// If `dtype` is not F32, F16 or BF16.
pub fn init_weights_dtype(net: &Network, seed: u64, dtype: Dtype) -> Vec<u8> {
    assert!(
        matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16),
        "init_weights_dtype: dtype must be F32, F16 or BF16, got {dtype:?}"
    );
    let encoded: Vec<Tensor> = draw(net, seed).into_iter().map(|t| t.encode(dtype)).collect();
    let views = encoded.iter().map(|t| {
        let view = TensorView::new(t.dtype, t.shape.clone(), &t.bytes).expect("tensor bytes match shape");
        (t.name.clone(), view)
    });
    safetensors::serialize(views, None).expect("random weights serialize")
}

/// One tensor to be written: f32 bytes (or I64 for `num_batches_tracked`) until encoded.
struct Tensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Tensor {
    fn f32(name: String, shape: Vec<usize>, values: &[f32]) -> Tensor {
        Tensor { name, dtype: Dtype::F32, shape, bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    /// Store the f32 tensors as `dtype`; other tensors are left as they are.
    fn encode(self, dtype: Dtype) -> Tensor {
        if self.dtype != Dtype::F32 || dtype == Dtype::F32 {
            return self;
        }
        let convert: fn(f32) -> u16 = if dtype == Dtype::F16 { f32_to_f16 } else { f32_to_bf16 };
        let bytes = self
            .bytes
            .chunks_exact(4)
            .flat_map(|c| convert(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes())
            .collect();
        Tensor { dtype, bytes, ..self }
    }
}

/// Draw every tensor of `net`, in layer order.
fn draw(net: &Network, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for layer in &net.layers {
        let (Some(conv), Some(kind)) = (&layer.conv, layer.param_kind()) else { continue };
        let shape = kind.torch_shape();
        let n: usize = shape.iter().product();
        if layer.op == Op::Linear {
            let w: Vec<f32> = (0..n).map(|_| (rng.normal() * 0.01) as f32).collect();
            let b: Vec<f32> = (0..kind.cout()).map(|_| (rng.normal() * 0.01) as f32).collect();
            out.push(Tensor::f32(format!("{conv}.weight"), shape, &w));
            out.push(Tensor::f32(format!("{conv}.bias"), vec![kind.cout()], &b));
        } else {
            let fan_in: usize = shape[1..].iter().product();
            let std = (2.0 / fan_in as f64).sqrt();
            let w: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
            out.push(Tensor::f32(format!("{conv}.weight"), shape, &w));
        }
        if let Some(bn) = &layer.bn {
            let c = kind.cout();
            let gamma: Vec<f32> = (0..c).map(|_| rng.uniform_in(0.5, 1.5) as f32).collect();
            let beta: Vec<f32> = (0..c).map(|_| (rng.normal() * 0.1) as f32).collect();
            let mean: Vec<f32> = (0..c).map(|_| (rng.normal() * 0.1) as f32).collect();
            let var: Vec<f32> = (0..c).map(|_| rng.uniform_in(0.5, 2.0) as f32).collect();
            for (field, v) in [("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var)] {
                out.push(Tensor::f32(format!("{bn}.{field}"), vec![c], &v));
            }
            out.push(Tensor {
                name: format!("{bn}.num_batches_tracked"),
                dtype: Dtype::I64,
                shape: vec![],
                bytes: NUM_BATCHES_TRACKED.to_le_bytes().to_vec(),
            });
        }
    }
    out
}

/// splitmix64, with Box-Muller normals.
struct Rng {
    state: u64,
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng { state: seed, spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal.
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - U is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// f32 to IEEE half, rounding to nearest with ties to even; overflow gives infinity, NaN stays
/// NaN (quiet), values below half the smallest subnormal give signed zero.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        let nan = if man != 0 { 0x0200 | (man >> 13) as u16 } else { 0 };
        return sign | 0x7c00 | nan;
    }
    // Biased half exponent.
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal half (or zero): value = m * 2^-24 with m = significand >> (14 - e).
        let shift = (14 - e) as u32;
        if exp == 0 || shift > 24 {
            // f32 subnormals and anything below 2^-25 round to zero.
            return sign;
        }
        let sig = man | 0x80_0000;
        let q = sig >> shift;
        let rem = sig & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        let up = rem > half || (rem == half && q & 1 == 1);
        // A carry out of the subnormal range lands on the smallest normal, as it should.
        return sign | (q + u32::from(up)) as u16;
    }
    let h = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    let up = rem > 0x1000 || (rem == 0x1000 && h & 1 == 1);
    // A carry out of the mantissa bumps the exponent; out of the top exponent gives infinity.
    sign | (h + u32::from(up)) as u16
}

/// f32 to bfloat16, rounding to nearest with ties to even; NaN stays NaN (quiet).
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x0040;
    }
    let lsb = (bits >> 16) & 1;
    (bits.wrapping_add(0x7fff + lsb) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobilenet_kernels::checkpoint::{f16_to_f32, to_f32};
    use safetensors::SafeTensors;

    const TINY: &str = "name: T\nresolution: 9\nwidth_mult: 0.25\nnum_classes: 3\ninverted_residual_setting: [[1, 8, 1, 1], [2, 8, 2, 2]]\n";
    const V2: &str = "name: V\nresolution: 224\n";

    fn bf16_to_f32(h: u16) -> f32 {
        f32::from_bits((h as u32) << 16)
    }

    #[test]
    fn weights_load_through_the_kernels_loader() {
        for (file, text) in [("t.yaml", TINY), ("v.yaml", V2)] {
            let program = crate::compile_str(file, text).unwrap();
            for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16] {
                let bytes = init_weights_dtype(&program.network, 7, dtype);
                let params = program.params.fold(&bytes);
                let params = params.unwrap_or_else(|e| panic!("{file} {dtype:?}: {e}"));
                assert_eq!(params.len(), program.params.total);
                assert!(params.iter().all(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn names_shapes_and_statistics_follow_torchvision() {
        let program = crate::compile_str("v.yaml", V2).unwrap();
        let bytes = init_weights(&program.network, 3);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        // 52 convolutions with a BatchNorm each (5 tensors) + classifier weight and bias.
        assert_eq!(st.len(), 52 + 52 * 5 + 2);
        let t = st.tensor("features.0.1.num_batches_tracked").unwrap();
        assert_eq!(t.dtype(), Dtype::I64);
        assert!(t.shape().is_empty());
        assert_eq!(t.data(), &100i64.to_le_bytes());
        let t = st.tensor("features.18.0.weight").unwrap();
        assert_eq!(t.shape(), &[1280, 320, 1, 1]);
        let w = to_f32(t.dtype(), t.data()).unwrap();
        let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        let want = 2.0 / 320.0;
        assert!((var / want - 1.0).abs() < 0.02, "He-normal variance {var}, want {want}");
        let var = to_f32(Dtype::F32, st.tensor("features.5.conv.1.1.running_var").unwrap().data()).unwrap();
        assert!(var.iter().all(|v| (0.5..2.0).contains(v)));
        let gamma = to_f32(Dtype::F32, st.tensor("features.5.conv.1.1.weight").unwrap().data()).unwrap();
        assert!(gamma.iter().all(|v| (0.5..1.5).contains(v)));
        assert_eq!(st.tensor("classifier.1.weight").unwrap().shape(), &[1000, 1280]);
        assert_eq!(st.tensor("classifier.1.bias").unwrap().shape(), &[1000]);
    }

    #[test]
    fn deterministic_per_seed() {
        let program = crate::compile_str("t.yaml", TINY).unwrap();
        let a = init_weights(&program.network, 42);
        assert_eq!(a, init_weights(&program.network, 42));
        assert_ne!(a, init_weights(&program.network, 43));
    }

    #[test]
    fn half_precision_files_round_the_same_draws() {
        let program = crate::compile_str("t.yaml", TINY).unwrap();
        let full = init_weights(&program.network, 9);
        let full = SafeTensors::deserialize(&full).unwrap();
        for dtype in [Dtype::F16, Dtype::BF16] {
            let bytes = init_weights_dtype(&program.network, 9, dtype);
            let half = SafeTensors::deserialize(&bytes).unwrap();
            assert_eq!(half.len(), full.len());
            let (rel, decode): (f64, fn(u16) -> f32) =
                if dtype == Dtype::F16 { (1e-3, f16_to_f32) } else { (8e-3, bf16_to_f32) };
            for (name, t) in full.tensors() {
                let h = half.tensor(&name).unwrap();
                assert_eq!(h.shape(), t.shape(), "{name}");
                if t.dtype() == Dtype::I64 {
                    assert_eq!(h.dtype(), Dtype::I64);
                    continue;
                }
                assert_eq!(h.dtype(), dtype, "{name}");
                let want = to_f32(Dtype::F32, t.data()).unwrap();
                let got: Vec<f32> =
                    h.data().chunks_exact(2).map(|c| decode(u16::from_le_bytes([c[0], c[1]]))).collect();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    // Relative error, with an absolute floor of one half-precision subnormal step.
                    let tol = rel * w.abs() as f64 + 2f64.powi(-24);
                    assert!(((g - w) as f64).abs() <= tol, "{name}[{i}]: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn f16_rounding_is_exact_on_representable_values_and_ties_to_even() {
        for h in 0..=u16::MAX {
            let f = f16_to_f32(h);
            if f.is_nan() {
                assert!(f16_to_f32(f32_to_f16(f)).is_nan());
            } else {
                assert_eq!(f32_to_f16(f), h, "{h:#06x} -> {f}");
            }
        }
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even 1.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        // 1 + 3 * 2^-11 is halfway between odd and even: ties up to the even one.
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        // Just above halfway rounds up.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11) + 2f32.powi(-20)), 0x3c01);
        // Overflow and the largest finite half.
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(f32_to_f16(-1e10), 0xfc00);
        // Subnormals: half the smallest ties to zero, a bit more rounds up; carry into normals.
        assert_eq!(f32_to_f16(2f32.powi(-25)), 0x0000);
        assert_eq!(f32_to_f16(2f32.powi(-25) * 1.5), 0x0001);
        assert_eq!(f32_to_f16(3.0 * 2f32.powi(-25)), 0x0002);
        assert_eq!(f32_to_f16(-2f32.powi(-26)), 0x8000);
        assert_eq!(f32_to_f16(2f32.powi(-14) - 2f32.powi(-26)), 0x0400);
        assert_eq!(f32_to_f16(f32::from_bits(1)), 0x0000);
    }

    #[test]
    fn bf16_rounding_is_exact_on_representable_values_and_ties_to_even() {
        for h in 0..=u16::MAX {
            let f = bf16_to_f32(h);
            if f.is_nan() {
                assert!(bf16_to_f32(f32_to_bf16(f)).is_nan());
            } else {
                assert_eq!(f32_to_bf16(f), h, "{h:#06x} -> {f}");
            }
        }
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(f32_to_bf16(f32::MAX), 0x7f80);
        assert!(bf16_to_f32(f32_to_bf16(f32::from_bits(0x7f80_0001))).is_nan());
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut rng = Rng::new(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
