//! The quantizer's side of the int8 arithmetic: choosing activation parameters, fixed-point
//! multipliers and weight levels. What runs (rounding, requantization, quantizing the image) is
//! `mobilenet_kernels::int8::arith`, the one definition the interpreter and the kernels share.
//!
//! - Activations are 8-bit unsigned with a zero point: `real = scale * (q - zero_point)`.
//! - Weights are symmetric signed 8-bit per output channel (`[-127, 127]`); biases are i32 in
//!   units of `input scale * weight scale`; products accumulate in i32.
//! - Requantization multiplies by fixed-point multipliers `m / 2^shift` (`m` a 31-bit integer)
//!   in 64 bits and rounds half up: `(t + 2^(shift - 1)) >> shift` (an arithmetic shift).

use mobilenet_kernels::int8::arith as kernel;
pub use mobilenet_kernels::int8::arith::round_shift;

/// Affine 8-bit quantization: `real = scale * (q - zero_point)`, `q` in `0..=255`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QParams {
    /// The parameters covering `[min, max]`, widened to contain 0 so that zero (padding, ReLU's
    /// floor) is exact. An empty range (all zeros), or one so narrow that its scale would not be
    /// a normal f32 (whose reciprocal could be infinite), gets scale 1: every value is level 0.
    pub fn from_range(min: f32, max: f32) -> QParams {
        let (min, max) = (min.min(0.0) as f64, max.max(0.0) as f64);
        let scale = ((max - min) / 255.0) as f32;
        if !scale.is_normal() {
            return QParams { scale: 1.0, zero_point: 0 };
        }
        let zero_point = (-min / f64::from(scale)).round().clamp(0.0, 255.0) as i32;
        QParams { scale, zero_point }
    }

    /// `x` quantized: `round_ties_even(x * (1 / scale)) + zero_point`, saturated to `0..=255`.
    /// The reciprocal is computed once in f32, so SIMD code multiplying by it gets the same bits.
    pub fn quantize(self, x: f32) -> u8 {
        kernel::quantize(x, self.inverse_scale(), self.zero_point)
    }

    pub fn inverse_scale(self) -> f32 {
        1.0 / self.scale
    }

    pub fn dequantize(self, q: u8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }

    /// The quantized value of the real number `x`, unsaturated (for clamp bounds).
    fn level(self, x: f64) -> i64 {
        (x / f64::from(self.scale)).round() as i64 + i64::from(self.zero_point)
    }

    /// The range a layer's output is clamped to: ReLU6's `[0, 6]` where it has one (as levels,
    /// within `0..=255`), else the whole of `0..=255`.
    pub fn clamp_bounds(self, relu6: bool) -> (u8, u8) {
        if !relu6 {
            return (0, 255);
        }
        let lo = self.level(0.0).clamp(0, 255) as u8;
        let hi = self.level(6.0).clamp(0, 255) as u8;
        (lo, hi)
    }
}

/// A fixed-point multiplier: `m / 2^shift` approximates a positive real number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multiplier {
    pub m: i32,
    pub shift: u32,
}

/// Shifts stay in `1..=62` so that `2^(shift - 1)` and every product fit an i64.
const MAX_SHIFT: i32 = 62;

impl Multiplier {
    /// `real` (> 0) as `m / 2^shift` with `m` in `[2^30, 2^31)` where the shift range allows.
    pub fn new(real: f64) -> Multiplier {
        Multiplier::common(&[real])[0]
    }

    /// Several reals with one shift, chosen for the largest (so that their products can be
    /// summed before one rounding, as a residual add does).
    pub fn common(reals: &[f64]) -> Vec<Multiplier> {
        let largest = reals.iter().copied().fold(0.0f64, f64::max);
        let shift = if largest > 0.0 { 30 - largest.log2().floor() as i32 } else { MAX_SHIFT };
        let mut shift = shift.clamp(1, MAX_SHIFT);
        // log2's floor can be off by one at powers of two: keep the largest m below 2^31.
        while shift > 1 && (largest * 2f64.powi(shift)).round() >= 2f64.powi(31) {
            shift -= 1;
        }
        let scale = 2f64.powi(shift);
        reals
            .iter()
            .map(|&r| Multiplier { m: (r * scale).round().min(f64::from(i32::MAX)) as i32, shift: shift as u32 })
            .collect()
    }

    /// The real number this multiplier stands for.
    pub fn value(self) -> f64 {
        f64::from(self.m) / 2f64.powi(self.shift as i32)
    }
}

/// An output level: `zero_point + round(acc * multiplier)`, clamped to `[lo, hi]`.
pub fn requantize(acc: i32, mul: Multiplier, zero_point: i32, clamp: (u8, u8)) -> u8 {
    kernel::requantize(acc, mul.m, mul.shift, zero_point, clamp)
}

/// A residual block's output level: `zero_point + round(acc * m_acc + (r - r_zero_point) *
/// m_res)` with one rounding (both multipliers share a shift), clamped to `[lo, hi]`.
pub fn requantize_add(acc: i32, m_acc: Multiplier, r: i32, m_res: Multiplier, zero_point: i32, clamp: (u8, u8)) -> u8 {
    debug_assert_eq!(m_acc.shift, m_res.shift);
    kernel::requantize_add(acc, m_acc.m, r, m_res.m, m_acc.shift, zero_point, clamp)
}

/// Symmetric per-channel int8: each of the `rows` rows of `w` scaled so its largest magnitude is
/// 127 (an all-zero row, or one so small that its scale would not be a normal f32, gets scale 1:
/// all levels 0). Returns the levels and the scales.
pub fn quantize_weights(w: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let per_row = w.len() / rows.max(1);
    let mut levels = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(rows);
    for row in w.chunks_exact(per_row.max(1)).take(rows) {
        let largest = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = largest / 127.0;
        let scale = if scale.is_normal() { scale } else { 1.0 };
        levels.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    (levels, scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_zero_exactly() {
        let q = QParams::from_range(-1.0, 3.0);
        assert_eq!(q.zero_point, 64);
        assert_eq!(q.dequantize(q.zero_point as u8), 0.0);
        let relu = QParams::from_range(0.5, 6.0);
        assert_eq!(relu.zero_point, 0);
        assert_eq!(relu.clamp_bounds(true), (0, 255));
        let wide = QParams::from_range(-10.0, 10.0);
        let (lo, hi) = wide.clamp_bounds(true);
        assert_eq!(lo as i32, wide.zero_point);
        assert!((wide.dequantize(hi) - 6.0).abs() <= wide.scale / 2.0);
        assert_eq!(QParams::from_range(0.0, 0.0), QParams { scale: 1.0, zero_point: 0 });
    }

    #[test]
    fn multipliers_are_31_bit_and_accurate() {
        for real in [1e-9, 3.7e-5, 0.0123, 0.5, 0.75, 1.0, 1.5, 255.0] {
            let m = Multiplier::new(real);
            assert!((1..=62).contains(&m.shift));
            assert!(m.m > 0);
            if real > 1e-8 {
                assert!(m.m >= 1 << 30, "{real}: m {} not normalised", m.m);
            }
            assert!(((m.value() - real) / real).abs() < 1e-9, "{real} vs {}", m.value());
        }
        let pair = Multiplier::common(&[0.02, 0.9]);
        assert_eq!(pair[0].shift, pair[1].shift);
        assert!(pair[1].m >= 1 << 30);
    }

    /// The wrapper hands `Multiplier`'s fields to the kernels' arithmetic (whose rounding
    /// `kernels::int8::arith` tests).
    #[test]
    fn requantize_applies_the_multiplier() {
        let half = Multiplier { m: 1 << 30, shift: 31 };
        assert_eq!(requantize(7, half, 3, (0, 255)), 7); // 3.5 -> 4, + 3
        assert_eq!(requantize(-1000, half, 3, (0, 255)), 0);
        assert_eq!(requantize(i32::MAX, half, 3, (0, 200)), 200);
    }

    #[test]
    fn residual_requantization_rounds_once() {
        let m = Multiplier::common(&[0.5, 0.25]);
        // 3 * 0.5 + 2 * 0.25 = 2.0 exactly; rounding each term first would give 2 + 1 = 3.
        assert_eq!(requantize_add(3, m[0], 2, m[1], 0, (0, 255)), 2);
    }

    #[test]
    fn weights_are_symmetric_per_row() {
        let (q, s) = quantize_weights(&[0.5, -1.0, 0.25, 0.0, 0.0, 0.0], 2);
        assert_eq!(q, vec![64, -127, 32, 0, 0, 0]);
        assert_eq!(s, vec![1.0 / 127.0, 1.0]);
    }
}
