//! AVX-512 int8 kernels. 1x1 convolutions with VNNI: `vpdpbusd` multiplies 4 unsigned
//! activation bytes by 4 signed weight bytes and adds the sums to 16 i32 lanes, exactly (no
//! 16-bit intermediate to saturate). Weights come packed in tiles of 16 output channels,
//! `[k / 4][16][4]`, with the input's zero point folded into the bias (`conv::pointwise` reads
//! the same layout), so the activations enter unchanged. The depthwise and the stem widen to
//! i32 lanes, 16 channels at a time. The requantization (`requant16`) is `arith::requantize` on
//! 16 lanes: 64-bit products of the even and odd lanes, the same rounding, clamp and zero point.

use super::{Image, QConv, QShortcut};
use core::arch::x86_64::*;

/// Pixels per register tile (with two channel tiles: 12 accumulators).
const MR: usize = 6;

/// The requantization of 16 channels (from `c0`, the lanes in `mask`), its per-channel
/// constants loaded once for every pixel that uses them.
#[derive(Clone, Copy)]
struct Requant16 {
    m: __m512i,
    m_odd: __m512i,
    m_res: __m512i,
    m_res_odd: __m512i,
    shift: __m512i,
    shift_odd: __m512i,
    round: __m512i,
    round_odd: __m512i,
    lo: __m512i,
    hi: __m512i,
    zp: __m512i,
}

impl Requant16 {
    /// Lanes outside `mask` read no per-channel value and give no defined level.
    ///
    /// # Safety
    /// The CPU has AVX-512F/BW/VL; the per-channel arrays (and `m_res`) hold the lanes in `mask`
    /// from `c0`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn new(c0: usize, mask: __mmask16, q: &QConv, m_res: Option<&[i32]>) -> Requant16 {
        // SAFETY: the caller's contract.
        unsafe {
            let m = _mm512_maskz_loadu_epi32(mask, q.m.as_ptr().add(c0));
            let m_res = m_res.map_or(_mm512_setzero_si512(), |r| _mm512_maskz_loadu_epi32(mask, r.as_ptr().add(c0)));
            let shift = _mm512_mask_loadu_epi32(_mm512_set1_epi32(1), mask, q.shift.as_ptr().add(c0));
            let one = _mm512_set1_epi64(1);
            let (se, so) = (_mm512_and_si512(shift, _mm512_set1_epi64(0xffff_ffff)), _mm512_srli_epi64::<32>(shift));
            let zp = i64::from(q.output_zero);
            Requant16 {
                m,
                m_odd: _mm512_srli_epi64::<32>(m),
                m_res,
                m_res_odd: _mm512_srli_epi64::<32>(m_res),
                shift: se,
                shift_odd: so,
                round: _mm512_sllv_epi64(one, _mm512_sub_epi64(se, one)),
                round_odd: _mm512_sllv_epi64(one, _mm512_sub_epi64(so, one)),
                lo: _mm512_set1_epi64(i64::from(q.clamp.0) - zp),
                hi: _mm512_set1_epi64(i64::from(q.clamp.1) - zp),
                zp: _mm512_set1_epi64(zp),
            }
        }
    }

    /// 16 accumulators (and, with a shortcut, 16 of its levels minus its zero point) to 16
    /// levels: `arith::requantize` (`requantize_add`) per lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    fn apply(&self, acc: __m512i, res: Option<__m512i>) -> __m128i {
        let mut even = _mm512_mul_epi32(acc, self.m);
        let mut odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(acc), self.m_odd);
        if let Some(r) = res {
            even = _mm512_add_epi64(even, _mm512_mul_epi32(r, self.m_res));
            odd = _mm512_add_epi64(odd, _mm512_mul_epi32(_mm512_srli_epi64::<32>(r), self.m_res_odd));
        }
        let even = _mm512_srav_epi64(_mm512_add_epi64(even, self.round), self.shift);
        let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, self.round_odd), self.shift_odd);
        let even = _mm512_add_epi64(_mm512_min_epi64(_mm512_max_epi64(even, self.lo), self.hi), self.zp);
        let odd = _mm512_add_epi64(_mm512_min_epi64(_mm512_max_epi64(odd, self.lo), self.hi), self.zp);
        let y = _mm512_mask_blend_epi32(0xaaaa, even, _mm512_slli_epi64::<32>(odd));
        _mm512_cvtepi32_epi8(y)
    }
}

/// The 4 bytes of group `g` of a `k`-byte row (zeros past `k`).
#[inline(always)]
unsafe fn group(row: *const u8, g: usize, k: usize) -> i32 {
    // SAFETY: bytes below `k` lie in the row.
    unsafe {
        if 4 * g + 4 <= k {
            (row.add(4 * g) as *const i32).read_unaligned()
        } else {
            let mut b = [0u8; 4];
            for (j, v) in b.iter_mut().enumerate().take(k - 4 * g) {
                *v = *row.add(4 * g + j);
            }
            i32::from_le_bytes(b)
        }
    }
}

/// `R` pixels (from `p0`) by `T` channel tiles (from tile `t0`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize, const T: usize>(
    x: &[u8],
    k: usize,
    n: usize,
    q: &QConv,
    res: Option<(&[u8], QShortcut)>,
    out: &mut [u8],
    p0: usize,
    t0: usize,
) {
    let k4 = k.div_ceil(4);
    // SAFETY: `pointwise` checked that `x`, `out` (and the shortcut) hold every pixel, the
    // packed weights and per-channel arrays every tile, and passes tiles and pixels in range.
    unsafe {
        let w = q.weight.as_ptr();
        let mut acc = [[_mm512_setzero_si512(); T]; R];
        for (t, a) in (0..T).map(|t| (t, _mm512_loadu_si512(q.bias.as_ptr().add((t0 + t) * 16).cast()))) {
            for row in acc.iter_mut() {
                row[t] = a;
            }
        }
        let rows: [*const u8; R] = core::array::from_fn(|r| x.as_ptr().add((p0 + r) * k));
        // Whole groups of 4 bytes broadcast straight from memory; a last partial group, zero-padded.
        for g in 0..k4 {
            let wv: [__m512i; T] = core::array::from_fn(|t| _mm512_loadu_si512(w.add(((t0 + t) * k4 + g) * 64).cast()));
            let whole = 4 * g + 4 <= k;
            for r in 0..R {
                let xb = if whole {
                    _mm512_set1_epi32((rows[r].add(4 * g) as *const i32).read_unaligned())
                } else {
                    _mm512_set1_epi32(group(rows[r], g, k))
                };
                for t in 0..T {
                    acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], xb, wv[t]);
                }
            }
        }
        let masks: [__mmask16; T] = core::array::from_fn(|t| lanes(n - (t0 + t) * 16));
        let rq: [Requant16; T] =
            core::array::from_fn(|t| Requant16::new((t0 + t) * 16, masks[t], q, res.map(|(_, s)| s.m)));
        for (r, row) in acc.iter().enumerate() {
            let p = p0 + r;
            for (t, &a) in row.iter().enumerate() {
                let (c0, mask) = ((t0 + t) * 16, masks[t]);
                let sc = res.map(|(levels, s)| {
                    let l = _mm_maskz_loadu_epi8(mask, levels.as_ptr().add(p * n + c0).cast());
                    _mm512_sub_epi32(_mm512_cvtepu8_epi32(l), _mm512_set1_epi32(s.zero))
                });
                let y = rq[t].apply(a, sc);
                _mm_mask_storeu_epi8(out.as_mut_ptr().add(p * n + c0).cast(), mask, y);
            }
        }
    }
}

/// `conv::pointwise` with `vpdpbusd`: the same operands and results.
///
/// # Safety
/// The CPU has AVX-512F, BW, VL and VNNI; `q`'s packed weights, bias and per-channel arrays are
/// padded to whole tiles of 16 channels (and its shortcut's multipliers too).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn pointwise(
    x: &[u8],
    k: usize,
    n: usize,
    q: &QConv,
    res: Option<(&[u8], QShortcut)>,
    out: &mut [u8],
) {
    let pixels = out.len() / n;
    let tiles = n.div_ceil(16);
    let (k4, tiles16) = (k.div_ceil(4), tiles * 16);
    assert!(x.len() >= pixels * k && q.weight.len() >= tiles * k4 * 64, "internal error: pointwise operands");
    assert!(
        q.bias.len() >= tiles16 && q.m.len() >= tiles16 && q.shift.len() >= tiles16,
        "internal error: per-channel arrays"
    );
    if let Some((r, s)) = res {
        assert!(r.len() >= pixels * n && s.m.len() >= tiles16, "internal error: shortcut operands");
    }
    // SAFETY: operands checked above; the CPU's features are the caller's contract.
    unsafe {
        let mut t = 0;
        while t < tiles {
            let two = t + 2 <= tiles;
            let mut p = 0;
            while p + MR <= pixels {
                if two {
                    tile::<MR, 2>(x, k, n, q, res, out, p, t);
                } else {
                    tile::<MR, 1>(x, k, n, q, res, out, p, t);
                }
                p += MR;
            }
            while p < pixels {
                if two {
                    tile::<1, 2>(x, k, n, q, res, out, p, t);
                } else {
                    tile::<1, 1>(x, k, n, q, res, out, p, t);
                }
                p += 1;
            }
            t += if two { 2 } else { 1 };
        }
    }
}

/// The lanes of `len` (at most 16) channels.
#[inline(always)]
fn lanes(len: usize) -> __mmask16 {
    if len >= 16 {
        0xffff
    } else {
        (1u16 << len) - 1
    }
}

/// `conv::dw_row` on 16 channels at a time: the same operands and results.
///
/// # Safety
/// The CPU has AVX-512F, BW and VL; operands as `conv::dw_row`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn dw_row(
    rows: [Option<&[u8]>; 3],
    w_in: usize,
    c: usize,
    stride: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / c;
    assert!(q.weight.len() >= 9 * c && q.bias.len() >= c && q.m.len() >= c && q.shift.len() >= c);
    assert!(rows.iter().flatten().all(|r| r.len() >= w_in * c), "internal error: depthwise rows");
    // SAFETY: every access below stays inside a row (`ix < w_in`), the weights (`9 * c`), the
    // per-channel arrays and `out` (`wo * c`): lanes past `c` are masked.
    unsafe {
        let zp = _mm512_set1_epi32(q.input_zero);
        let w = q.weight.as_ptr();
        let mut c0 = 0;
        while c0 < c {
            let mask = lanes(c - c0);
            let bias = _mm512_maskz_loadu_epi32(mask, q.bias.as_ptr().add(c0));
            let taps: [__m512i; 9] =
                core::array::from_fn(|t| _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, w.add(t * c + c0).cast())));
            let rq = Requant16::new(c0, mask, q, None);
            for ox in 0..wo {
                let mut acc = bias;
                for (ky, row) in rows.iter().enumerate() {
                    let Some(row) = row else { continue };
                    for kx in 0..3 {
                        let ix = (ox * stride + kx).wrapping_sub(pad_l);
                        if ix >= w_in {
                            continue;
                        }
                        let xv = _mm_maskz_loadu_epi8(mask, row.as_ptr().add(ix * c + c0).cast());
                        let xv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(xv), zp);
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, taps[ky * 3 + kx]));
                    }
                }
                let y = rq.apply(acc, None);
                _mm_mask_storeu_epi8(out.as_mut_ptr().add(ox * c + c0).cast(), mask, y);
            }
            c0 += 16;
        }
    }
}

/// `conv::stem_row` on 16 output channels at a time: the same operands and results.
///
/// # Safety
/// The CPU has AVX-512F, BW and VL; operands as `conv::stem_row`.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn stem_row(
    img: Image,
    img_h: usize,
    img_w: usize,
    cout: usize,
    top: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / cout;
    assert!(q.weight.len() >= 27 * cout && q.bias.len() >= cout && q.m.len() >= cout && q.shift.len() >= cout);
    assert!(img.len() >= img_h * img_w * 3, "internal error: stem image");
    for ox in 0..wo {
        let patch = super::conv::stem_patch(img, img_h, img_w, top, pad_l, ox, q.input_zero);
        // SAFETY: weights `27 * cout`, per-channel arrays and `out` (`wo * cout`) bound every
        // access; lanes past `cout` are masked.
        unsafe {
            let mut c0 = 0;
            while c0 < cout {
                let mask = lanes(cout - c0);
                let mut acc = _mm512_maskz_loadu_epi32(mask, q.bias.as_ptr().add(c0));
                for (t, &v) in patch.iter().enumerate() {
                    let wv =
                        _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, q.weight.as_ptr().add(t * cout + c0).cast()));
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(wv, _mm512_set1_epi32(v)));
                }
                let y = Requant16::new(c0, mask, q, None).apply(acc, None);
                _mm_mask_storeu_epi8(out.as_mut_ptr().add(ox * cout + c0).cast(), mask, y);
                c0 += 16;
            }
        }
    }
}
