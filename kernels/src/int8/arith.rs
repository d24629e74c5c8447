//! The integer arithmetic of int8 inference: the one definition the compiler's quantizer and
//! int8 reference interpreter and every int8 kernel share.
//!
//! - Activations are 8-bit unsigned with a zero point: `real = scale * (q - zero_point)`.
//! - Weights are symmetric signed 8-bit per output channel; biases are i32 in units of
//!   `input scale * weight scale`; products accumulate in i32.
//! - Requantization multiplies by a fixed-point multiplier `m / 2^shift` (`m` below 2^31,
//!   `shift` in `1..=62`) in 64 bits and rounds half up: `(t + 2^(shift - 1)) >> shift`.

/// `(t + 2^(shift - 1)) >> shift`: `t / 2^shift` rounded half up (an arithmetic shift).
#[inline(always)]
pub fn round_shift(t: i64, shift: u32) -> i64 {
    (t + (1i64 << (shift - 1))) >> shift
}

/// An output level: `zero_point + round(acc * m / 2^shift)`, clamped to `[lo, hi]`.
#[inline(always)]
pub fn requantize(acc: i32, m: i32, shift: u32, zero_point: i32, (lo, hi): (u8, u8)) -> u8 {
    let y = round_shift(i64::from(acc) * i64::from(m), shift) + i64::from(zero_point);
    y.clamp(i64::from(lo), i64::from(hi)) as u8
}

/// A residual block's output level: `zero_point + round((acc * m + r * m_res) / 2^shift)`, one
/// rounding for both terms (`r`: the shortcut's level minus its zero point), clamped.
#[inline(always)]
pub fn requantize_add(acc: i32, m: i32, r: i32, m_res: i32, shift: u32, zero_point: i32, (lo, hi): (u8, u8)) -> u8 {
    let t = i64::from(acc) * i64::from(m) + i64::from(r) * i64::from(m_res);
    let y = round_shift(t, shift) + i64::from(zero_point);
    y.clamp(i64::from(lo), i64::from(hi)) as u8
}

/// `x` quantized: `x * inverse_scale` rounded to the nearest level, ties to even, plus
/// `zero_point`, saturated to `0..=255` (NaN gives 0).
#[inline(always)]
pub fn quantize(x: f32, inverse_scale: f32, zero_point: i32) -> u8 {
    // Clamped first (NaN stays NaN), the magic constant rounds ties to even exactly as IEEE
    // addition does; `core` has no `round_ties_even`.
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    let y = (x * inverse_scale).clamp(-1024.0, 1024.0);
    let r = (y + MAGIC) - MAGIC;
    (r + zero_point as f32).clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_ties_to_even_and_saturates() {
        assert_eq!(quantize(0.25, 2.0, 10), 10); // 0.5 -> 0
        assert_eq!(quantize(0.75, 2.0, 10), 12); // 1.5 -> 2
        assert_eq!(quantize(-0.75, 2.0, 10), 8); // -1.5 -> -2
        assert_eq!(quantize(-100.0, 2.0, 10), 0);
        assert_eq!(quantize(1e30, 2.0, 10), 255);
        assert_eq!(quantize(f32::INFINITY, 2.0, 10), 255);
        assert_eq!(quantize(f32::NEG_INFINITY, 2.0, 10), 0);
        assert_eq!(quantize(f32::NAN, 2.0, 10), 0);
    }

    #[cfg(feature = "std")]
    #[test]
    fn quantize_matches_round_ties_even() {
        let mut x = 0x1234_5678u32;
        for i in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = (x as f32 / u32::MAX as f32 - 0.5) * 700.0;
            let v = if i % 4 == 0 { (v * 2.0).round() / 2.0 } else { v }; // exact ties
            let (inv, zp) = (1.0 + (i % 7) as f32 * 0.37, (i % 256) as i32);
            let want = ((v * inv).round_ties_even() + zp as f32).clamp(0.0, 255.0) as u8;
            assert_eq!(quantize(v, inv, zp), want, "{v} * {inv} + {zp}");
        }
    }

    #[test]
    fn rounding_is_half_up_and_arithmetic() {
        assert_eq!(round_shift(3, 1), 2); // 1.5 -> 2
        assert_eq!(round_shift(-3, 1), -1); // -1.5 -> -1
        assert_eq!(round_shift(-5, 2), -1); // -1.25 -> -1
        assert_eq!(round_shift(5, 2), 1); // 1.25 -> 1
        let half = (1 << 30, 31);
        assert_eq!(requantize(7, half.0, half.1, 3, (0, 255)), 7); // 3.5 -> 4, + 3
        assert_eq!(requantize(-1000, half.0, half.1, 3, (0, 255)), 0);
        assert_eq!(requantize(i32::MAX, half.0, half.1, 3, (0, 200)), 200);
        // 3 * 0.5 + 2 * 0.25 = 2.0 exactly; rounding each term first would give 2 + 1 = 3.
        assert_eq!(requantize_add(3, 1 << 30, 2, 1 << 29, 31, 0, (0, 255)), 2);
    }
}
