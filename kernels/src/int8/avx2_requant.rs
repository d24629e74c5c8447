//! The AVX2 requantization of the AVX2 and AVX-VNNI kernels: `Requant8`,
//! `arith::requantize` on 8 lanes in the VNNI kernels' two forms (`vnni_requant`): the narrow
//! one where every shift is in `33..=54`, else 64-bit shifts (arithmetic, by the sign-flip
//! identity: AVX2 shifts 64-bit lanes logically) and 64-bit clamps; `pack16`, which narrows
//! two vectors of it to bytes, and `store_bytes`.

use super::QConv;
use core::arch::x86_64::*;

/// The requantization of 8 channels; see `Requant16` in `vnni`, whose two forms this repeats.
#[derive(Clone, Copy)]
pub(super) struct Requant8 {
    narrow: bool,
    m: __m256i,
    m_odd: __m256i,
    m_res: __m256i,
    m_res_odd: __m256i,
    shift: __m256i,
    shift_odd: __m256i,
    round: __m256i,
    round_odd: __m256i,
    lo: __m256i,
    hi: __m256i,
    zp: __m256i,
}

impl Requant8 {
    /// From the lanes' multipliers and shifts (each `1..=62`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn of(m: __m256i, m_res: __m256i, shift: __m256i, q: &QConv) -> Requant8 {
        let in_range = _mm256_and_si256(
            _mm256_cmpgt_epi32(shift, _mm256_set1_epi32(32)),
            _mm256_cmpgt_epi32(_mm256_set1_epi32(55), shift),
        );
        let narrow = _mm256_movemask_epi8(in_range) == -1;
        let zp = q.output_zero;
        let (shift, shift_odd, round, round_odd, lo, hi) = if narrow {
            let s = _mm256_sub_epi32(shift, _mm256_set1_epi32(32));
            let half = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(s, _mm256_set1_epi32(1)));
            let round = _mm256_add_epi32(half, _mm256_sllv_epi32(_mm256_set1_epi32(zp), s));
            (s, s, round, round, _mm256_setzero_si256(), _mm256_setzero_si256())
        } else {
            let one = _mm256_set1_epi64x(1);
            let (se, so) = (_mm256_and_si256(shift, _mm256_set1_epi64x(0xffff_ffff)), _mm256_srli_epi64::<32>(shift));
            let round = _mm256_sllv_epi64(one, _mm256_sub_epi64(se, one));
            let round_odd = _mm256_sllv_epi64(one, _mm256_sub_epi64(so, one));
            let z = i64::from(zp);
            let (lo, hi) = (_mm256_set1_epi64x(i64::from(q.clamp.0) - z), _mm256_set1_epi64x(i64::from(q.clamp.1) - z));
            (se, so, round, round_odd, lo, hi)
        };
        Requant8 {
            narrow,
            m,
            m_odd: _mm256_srli_epi64::<32>(m),
            m_res,
            m_res_odd: _mm256_srli_epi64::<32>(m_res),
            shift,
            shift_odd,
            round,
            round_odd,
            lo,
            hi,
            zp: _mm256_set1_epi32(zp),
        }
    }

    /// `(t + round) >> shift` on 64-bit lanes, arithmetic, clamped to `[lo, hi]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn shift_clamp(&self, t: __m256i, round: __m256i, shift: __m256i) -> __m256i {
        let sign = _mm256_set1_epi64x(i64::MIN);
        // (t ^ 2^63) >> s - 2^63 >> s (logical shifts) == t >> s (arithmetic).
        let u = _mm256_srlv_epi64(_mm256_xor_si256(_mm256_add_epi64(t, round), sign), shift);
        let y = _mm256_sub_epi64(u, _mm256_srlv_epi64(sign, shift));
        let y = _mm256_blendv_epi8(y, self.lo, _mm256_cmpgt_epi64(self.lo, y));
        _mm256_blendv_epi8(y, self.hi, _mm256_cmpgt_epi64(y, self.hi))
    }

    /// 8 accumulators (and, with a shortcut, 8 of its levels minus its zero point) to 8 values
    /// whose clamp is `arith::requantize` (`requantize_add`): exact, not yet clamped (narrow)
    /// or already clamped.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn unclamped(&self, acc: __m256i, res: Option<__m256i>) -> __m256i {
        let mut even = _mm256_mul_epi32(acc, self.m);
        let mut odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(acc), self.m_odd);
        if let Some(r) = res {
            even = _mm256_add_epi64(even, _mm256_mul_epi32(r, self.m_res));
            odd = _mm256_add_epi64(odd, _mm256_mul_epi32(_mm256_srli_epi64::<32>(r), self.m_res_odd));
        }
        if self.narrow {
            let h = _mm256_blend_epi32::<0xaa>(_mm256_srli_epi64::<32>(even), odd);
            _mm256_srav_epi32(_mm256_add_epi32(h, self.round), self.shift)
        } else {
            let even = self.shift_clamp(even, self.round, self.shift);
            let odd = self.shift_clamp(odd, self.round_odd, self.shift_odd);
            _mm256_add_epi32(_mm256_blend_epi32::<0xaa>(even, _mm256_slli_epi64::<32>(odd)), self.zp)
        }
    }
}

/// 16 `unclamped` values (channels `0..8` in `a`, `8..16` in `b`) as 16 levels clamped to
/// `clamp`: saturating packs keep the clamp exact (`0 <= lo <= hi <= 255`).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn pack16(a: __m256i, b: __m256i, clamp: (u8, u8)) -> __m128i {
    // packs works in 128-bit lanes: reorder the words to a0-7, b0-7 first.
    let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(a, b));
    let bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256::<1>(words));
    _mm_min_epu8(_mm_max_epu8(bytes, _mm_set1_epi8(clamp.0 as i8)), _mm_set1_epi8(clamp.1 as i8))
}

/// Stores the first `len` (at most 16) bytes of `v` at `dst`.
///
/// # Safety
/// `dst` is valid for `len` bytes.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn store_bytes(dst: *mut u8, v: __m128i, len: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        if len >= 16 {
            _mm_storeu_si128(dst.cast(), v);
        } else {
            let mut b = [0u8; 16];
            _mm_storeu_si128(b.as_mut_ptr().cast(), v);
            core::ptr::copy_nonoverlapping(b.as_ptr(), dst, len);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::int8::arith::{requantize, requantize_add};

    /// Both forms of `Requant8` and the saturating `pack16` against `arith`, at extreme
    /// accumulators, multipliers and shifts.
    #[test]
    fn requant8_matches_arith() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        let mut next = crate::int8::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let edges = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX, 1 << 30, -(1 << 30)];
        for round in 0..4000 {
            let shifts: [i32; 8] = core::array::from_fn(|_| match round % 3 {
                0 => 33 + (next() % 22) as i32,
                1 => 1 + (next() % 62) as i32,
                _ => [1, 31, 32, 33, 54, 55, 62][(next() % 7) as usize],
            });
            let m: [i32; 8] = core::array::from_fn(|l| match next() % 4 {
                0 => i32::MAX,
                1 => 1 << 30,
                _ => (next() >> 33) as i32 >> (shifts[l] % 3),
            });
            let m_res: [i32; 8] = core::array::from_fn(|_| (next() >> 33) as i32);
            let acc: [i32; 8] = core::array::from_fn(|_| match next() % 3 {
                0 => edges[(next() % 8) as usize],
                1 => (next() as i32) >> (next() % 31),
                _ => next() as i32,
            });
            let r: [i32; 8] = core::array::from_fn(|_| (next() % 256) as i32 - (next() % 256) as i32);
            let zp = (next() % 256) as i32;
            let lo = (next() % 128) as u8;
            let clamp = (lo, lo.max((next() % 256) as u8));
            let q = QConv { weight: &[], bias: &[], m: &m, shift: &shifts, input_zero: 0, output_zero: zp, clamp };
            let residual = round % 2 == 1;
            // SAFETY: the CPU has the features (checked above); the arrays hold 8 lanes.
            let packed: [u8; 16] = unsafe {
                let ld = |a: &[i32; 8]| _mm256_loadu_si256(a.as_ptr().cast());
                let rq = Requant8::of(ld(&m), ld(&m_res), ld(&shifts), &q);
                let u = rq.unclamped(ld(&acc), residual.then(|| ld(&r)));
                // The second vector the first reversed, so that the halves' order shows.
                let reverse = _mm256_set_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                core::mem::transmute::<__m128i, [u8; 16]>(pack16(u, _mm256_permutevar8x32_epi32(u, reverse), clamp))
            };
            let want: [u8; 8] = core::array::from_fn(|l| {
                if residual {
                    requantize_add(acc[l], m[l], r[l], m_res[l], shifts[l] as u32, zp, clamp)
                } else {
                    requantize(acc[l], m[l], shifts[l] as u32, zp, clamp)
                }
            });
            for l in 0..8 {
                assert_eq!(
                    (packed[l], packed[8 + l]),
                    (want[l], want[7 - l]),
                    "lane {l}: acc {} m {} shift {}",
                    acc[l],
                    m[l],
                    shifts[l]
                );
            }
        }
    }
}
