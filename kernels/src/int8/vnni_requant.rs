//! The AVX-512 requantization of the VNNI kernels (`vnni`, `vnni_dw`): `Requant16`,
//! `arith::requantize` on 16 lanes from 64-bit products of the even and odd lanes, in one of
//! two forms chosen once per register tile or channel group, and `pack32`, which narrows two
//! vectors of it to bytes (where the clamp happens).

use super::QConv;
use core::arch::x86_64::*;

/// The requantization of 16 channels (from `c0`, the lanes in `mask`), its per-channel
/// constants computed once for every pixel that uses them.
///
/// Where every lane's shift `s` is in `33..=54` (`narrow`: every real multiplier below 0.25, as
/// nearly all are), only the high halves `h = t >> 32` of the 64-bit products `t` are kept:
/// `(t + 2^(s - 1)) >> s == (h + 2^(s - 33)) >> (s - 32)` exactly (the low half only adds a
/// fraction below one to an integer numerator), `|h| < 2^30 + 2^7`, and the zero point rides in
/// the rounding term (`zp * 2^(s - 32) < 2^30`), so the rest runs on 32-bit lanes and the
/// result needs no clamp until it is narrowed to bytes. Otherwise the shifted 64-bit values are
/// clamped first, and the zero point added after.
#[derive(Clone, Copy)]
pub(super) struct Requant16 {
    pub(super) narrow: bool,
    m: __m512i,
    m_odd: __m512i,
    m_res: __m512i,
    m_res_odd: __m512i,
    /// Narrow: `s - 32` and `2^(s - 33) + zp * 2^(s - 32)` per 32-bit lane (`*_odd` unused);
    /// otherwise `s` and `2^(s - 1)` per 64-bit lane, even and odd lanes apart.
    shift: __m512i,
    shift_odd: __m512i,
    round: __m512i,
    round_odd: __m512i,
    /// Otherwise only: the clamp minus the zero point, per 64-bit lane.
    lo: __m512i,
    hi: __m512i,
    zp: __m512i,
}

impl Requant16 {
    /// Lanes outside `mask` read no per-channel value and give no defined level. With
    /// `narrow_ok` false, the other form even where the shifts allow the narrow one (so that
    /// vectors requantized together share a form).
    ///
    /// # Safety
    /// The CPU has AVX-512F/BW/VL; the per-channel arrays (and `m_res`) hold the lanes in `mask`
    /// from `c0`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn new(
        c0: usize,
        mask: __mmask16,
        q: &QConv,
        m_res: Option<&[i32]>,
        narrow_ok: bool,
    ) -> Requant16 {
        // SAFETY: the caller's contract.
        unsafe {
            let m = _mm512_maskz_loadu_epi32(mask, q.m.as_ptr().add(c0));
            let m_res = m_res.map_or(_mm512_setzero_si512(), |r| _mm512_maskz_loadu_epi32(mask, r.as_ptr().add(c0)));
            // Unused lanes get a shift the narrow form accepts.
            let shift = _mm512_mask_loadu_epi32(_mm512_set1_epi32(super::PAD_SHIFT), mask, q.shift.as_ptr().add(c0));
            Requant16::of(m, m_res, shift, q, narrow_ok)
        }
    }

    /// From the lanes' multipliers and shifts (each `1..=62`); `narrow_ok` as in `new`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    fn of(m: __m512i, m_res: __m512i, shift: __m512i, q: &QConv, narrow_ok: bool) -> Requant16 {
        let narrow = narrow_ok
            && _mm512_cmpge_epi32_mask(shift, _mm512_set1_epi32(33))
                & _mm512_cmple_epi32_mask(shift, _mm512_set1_epi32(54))
                == 0xffff;
        let zp = q.output_zero;
        let (shift, shift_odd, round, round_odd, lo, hi) = if narrow {
            let s = _mm512_sub_epi32(shift, _mm512_set1_epi32(32));
            let half = _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(s, _mm512_set1_epi32(1)));
            let round = _mm512_add_epi32(half, _mm512_sllv_epi32(_mm512_set1_epi32(zp), s));
            (s, s, round, round, _mm512_setzero_si512(), _mm512_setzero_si512())
        } else {
            let one = _mm512_set1_epi64(1);
            let (se, so) = (_mm512_and_si512(shift, _mm512_set1_epi64(0xffff_ffff)), _mm512_srli_epi64::<32>(shift));
            let round = _mm512_sllv_epi64(one, _mm512_sub_epi64(se, one));
            let round_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(so, one));
            let z = i64::from(zp);
            let (lo, hi) = (_mm512_set1_epi64(i64::from(q.clamp.0) - z), _mm512_set1_epi64(i64::from(q.clamp.1) - z));
            (se, so, round, round_odd, lo, hi)
        };
        Requant16 {
            narrow,
            m,
            m_odd: _mm512_srli_epi64::<32>(m),
            m_res,
            m_res_odd: _mm512_srli_epi64::<32>(m_res),
            shift,
            shift_odd,
            round,
            round_odd,
            lo,
            hi,
            zp: _mm512_set1_epi32(zp),
        }
    }

    /// From `products`, where not `narrow`: 16 values, one per i32 lane, whose clamp to `[lo,
    /// hi]` is `arith::requantize` (`requantize_add`) per lane, already clamped.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn wide_of(&self, even: __m512i, odd: __m512i) -> __m512i {
        let even = _mm512_srav_epi64(_mm512_add_epi64(even, self.round), self.shift);
        let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, self.round_odd), self.shift_odd);
        // Clamped in 64 bits, the levels minus the zero point fit 32.
        let even = _mm512_min_epi64(_mm512_max_epi64(even, self.lo), self.hi);
        let odd = _mm512_min_epi64(_mm512_max_epi64(odd, self.lo), self.hi);
        _mm512_add_epi32(_mm512_mask_blend_epi32(0xaaaa, even, _mm512_slli_epi64::<32>(odd)), self.zp)
    }

    /// Every constant's low `16 / parts` lanes repeated `parts` times (`spread`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn spread(&self, parts: usize) -> Requant16 {
        Requant16 {
            m: spread(self.m, parts),
            m_odd: spread(self.m_odd, parts),
            m_res: spread(self.m_res, parts),
            m_res_odd: spread(self.m_res_odd, parts),
            shift: spread(self.shift, parts),
            shift_odd: spread(self.shift_odd, parts),
            round: spread(self.round, parts),
            round_odd: spread(self.round_odd, parts),
            ..*self
        }
    }

    /// The 64-bit products of the even and the odd lanes (plus the shortcut's).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn products(&self, acc: __m512i, res: Option<__m512i>) -> (__m512i, __m512i) {
        let mut even = _mm512_mul_epi32(acc, self.m);
        // Shuffles (port 5) rather than 64-bit shifts (port 0, which the multiplies need).
        let mut odd = _mm512_mul_epi32(_mm512_shuffle_epi32::<0xf5>(acc), self.m_odd);
        if let Some(r) = res {
            even = _mm512_add_epi64(even, _mm512_mul_epi32(r, self.m_res));
            odd = _mm512_add_epi64(odd, _mm512_mul_epi32(_mm512_srli_epi64::<32>(r), self.m_res_odd));
        }
        (even, odd)
    }

    /// `wide_of`'s values where `narrow` (every shift in `33..=54`), not yet clamped (the two
    /// forms set up their constants differently: each is valid only for its case).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn narrow_of(&self, even: __m512i, odd: __m512i) -> __m512i {
        // The high halves: the even products' moved down, the odd ones' in place.
        let h = _mm512_mask_shuffle_epi32::<0xf5>(odd, 0x5555, even);
        _mm512_srav_epi32(_mm512_add_epi32(h, self.round), self.shift)
    }
}

/// Two vectors of `Requant16::narrow_of` or `wide_of` values (channels `0..16` and
/// `16..32`) as 32 levels clamped to `clamp`: the saturating packs to bytes keep the clamp
/// exact (`0 <= lo <= hi <= 255`), then a dword permutation restores the channel order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn pack32(a: __m512i, b: __m512i, clamp: (u8, u8)) -> __m256i {
    let words = _mm512_packs_epi32(a, b);
    let bytes = _mm512_packus_epi16(words, words);
    // 128-bit lane L holds a's bytes 4L..4L+4 in dword 4L and b's in dword 4L + 1.
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
    let mut v = _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, bytes));
    // The packs clamp to 0..=255 already (every layer of a model whose ReLU6 ranges end at 6).
    if clamp.0 > 0 {
        v = _mm256_max_epu8(v, _mm256_set1_epi8(clamp.0 as i8));
    }
    if clamp.1 < 255 {
        v = _mm256_min_epu8(v, _mm256_set1_epi8(clamp.1 as i8));
    }
    v
}

/// The lanes of `len` (at most 16) channels.
#[inline(always)]
pub(super) fn lanes(len: usize) -> __mmask16 {
    if len >= 16 {
        0xffff
    } else {
        (1u16 << len) - 1
    }
}

/// The low `512 / parts` bits repeated `parts` (1, 2 or 4) times.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn spread(v: __m512i, parts: usize) -> __m512i {
    match parts {
        2 => _mm512_shuffle_i64x2::<0b01_00_01_00>(v, v),
        4 => _mm512_shuffle_i64x2::<0>(v, v),
        _ => v,
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::int8::arith::{requantize, requantize_add};

    /// Both forms of `Requant16` (narrow shifts, and shifts outside `33..=54` in some lane),
    /// clamped and through `pack32`, against `arith`, at extreme accumulators and multipliers.
    #[test]
    fn requant16_matches_arith() {
        if !crate::int8::has_avx512_vnni() {
            return;
        }
        let mut next = crate::int8::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let edges = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX, 1 << 30, -(1 << 30)];
        for round in 0..4000 {
            let shifts: [i32; 16] = core::array::from_fn(|_| match round % 3 {
                0 => 33 + (next() % 22) as i32, // all narrow
                1 => 1 + (next() % 62) as i32,  // any
                _ => [1, 31, 32, 33, 54, 55, 62][(next() % 7) as usize],
            });
            let m: [i32; 16] = core::array::from_fn(|l| match next() % 4 {
                0 => i32::MAX,
                1 => 1 << 30,
                _ => (next() >> 33) as i32 >> (shifts[l] % 3),
            });
            let m_res: [i32; 16] = core::array::from_fn(|_| (next() >> 33) as i32);
            let acc: [i32; 16] = core::array::from_fn(|_| match next() % 3 {
                0 => edges[(next() % 8) as usize],
                1 => (next() as i32) >> (next() % 31),
                _ => next() as i32,
            });
            let r: [i32; 16] = core::array::from_fn(|_| (next() % 256) as i32 - (next() % 256) as i32);
            let zp = (next() % 256) as i32;
            let lo = (next() % 128) as u8;
            let clamp = (lo, lo.max((next() % 256) as u8));
            let q = QConv { weight: &[], bias: &[], m: &m, shift: &shifts, input_zero: 0, output_zero: zp, clamp };
            let residual = round % 2 == 1;
            // SAFETY: the CPU has the features (checked above); the arrays hold 16 lanes.
            let (got, packed): ([i32; 16], [u8; 32]) = unsafe {
                let reverse = _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                // Every third round (with and without a shortcut) the other form even where the
                // narrow one would do.
                let rq = Requant16::new(0, 0xffff, &q, residual.then_some(&m_res[..]), round % 3 != 2);
                let res = residual.then(|| _mm512_loadu_si512(r.as_ptr().cast()));
                let acc = _mm512_loadu_si512(acc.as_ptr().cast());
                let (even, odd) = rq.products(acc, res);
                let u = if rq.narrow { rq.narrow_of(even, odd) } else { rq.wide_of(even, odd) };
                (
                    core::mem::transmute::<__m512i, [i32; 16]>(u),
                    // The second vector the first reversed, so that the halves' order shows.
                    core::mem::transmute::<__m256i, [u8; 32]>(pack32(u, _mm512_permutexvar_epi32(reverse, u), clamp)),
                )
            };
            for l in 0..16 {
                let want = if residual {
                    requantize_add(acc[l], m[l], r[l], m_res[l], shifts[l] as u32, zp, clamp)
                } else {
                    requantize(acc[l], m[l], shifts[l] as u32, zp, clamp)
                };
                let clamped = got[l].clamp(i32::from(clamp.0), i32::from(clamp.1));
                assert_eq!(clamped, i32::from(want), "lane {l}: acc {} m {} shift {}", acc[l], m[l], shifts[l]);
                assert_eq!(packed[l], want, "packed lane {l}");
                let mirrored = got[15 - l].clamp(i32::from(clamp.0), i32::from(clamp.1));
                assert_eq!(i32::from(packed[16 + l]), mirrored, "packed lane {l} (second half)");
            }
        }
    }
}
