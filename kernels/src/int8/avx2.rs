//! AVX2 int8 kernels (no VNNI). `vpmaddubsw` would multiply unsigned activation bytes by signed
//! weight bytes, but it adds each pair of products into an i16 with saturation, and a pair can
//! reach 2 * 255 * 127 = 64770: not exact. These kernels widen both operands to i16 first and
//! use `vpmaddwd`, whose pairs of i16 products add into i32 exactly (no operand here is -32768).
//!
//! - 1x1 convolutions (and the stem on its patches, and the classifier): the packed tiles of 16
//!   channels x 4 inputs, widened to four vectors of 4 channels x 4 inputs; each pixel's group
//!   of 4 levels widened and broadcast; one `vpmaddwd` gives each channel two partial sums,
//!   added pairwise (`vphaddd`) once per tile. 2 pixels x 16 channels per register tile.
//! - Depthwise: two taps at a time, their levels interleaved byte by byte, widened, minus the
//!   zero point, against the two taps' interleaved weights: 16 channels per step.
//! - Requantization: `avx2_requant::Requant8`.
//!
//! The 1x1 loop, the classifier, the requantization and the byte packs serve the AVX-VNNI
//! kernels too (`avxvnni`), which form the tiles' dot products with `vpdpbusd` instead (`Dot8`).

use super::avx2_requant::{pack16, store_bytes, Requant8};
use super::conv::{dw_rows, group};
use super::isa::{DwShape, PwShape};
use super::{dw_lane, QConv, QLinear, QShortcut};
use core::arch::x86_64::*;
use core::ops::Range;

/// A group of 4 levels widened to i16 and broadcast: `[x0, x1, x2, x3]` four times.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn widen4(v: i32) -> __m256i {
    let spread = _mm256_setr_epi8(
        0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1,
    );
    _mm256_shuffle_epi8(_mm256_set1_epi32(v), spread)
}

/// How a register tile's dot products are formed: `vpmaddwd` on widened operands (`Madd`) or
/// AVX-VNNI's `vpdpbusd` (`avxvnni::Dpbusd`).
pub(super) trait Dot8 {
    /// Whether tiles of 6 (then 4) pixels fit the 16 registers (else 2).
    const WIDE: bool;

    /// The i32 sums of `R` pixels (rows of `k` levels from `x`) for one tile of 16 channels
    /// (packed weights from `w`), channels `0..8` and `8..16`, without the bias.
    ///
    /// # Safety
    /// The CPU has the implementation's features; `x` holds `R` rows of `k` levels, `w` a tile
    /// of `k.div_ceil(4)` groups.
    unsafe fn accumulate<const R: usize>(x: *const u8, k: usize, w: *const i8) -> [[__m256i; 2]; R];
}

/// `vpmaddwd` on operands widened to i16 (AVX2).
pub(super) struct Madd;

impl Dot8 for Madd {
    const WIDE: bool = false;

    #[inline(always)]
    unsafe fn accumulate<const R: usize>(x: *const u8, k: usize, w: *const i8) -> [[__m256i; 2]; R] {
        // SAFETY: the caller's contract.
        unsafe { madd::<R>(x, k, w) }
    }
}

/// `Madd`'s tiles: each group of 4 inputs as four vectors of 4 channels x 4 inputs, one
/// `vpmaddwd` giving each channel two partial sums, added pairwise once per tile.
///
/// # Safety
/// As `Dot8::accumulate`, with AVX2.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn madd<const R: usize>(x: *const u8, k: usize, w: *const i8) -> [[__m256i; 2]; R] {
    let k4 = k.div_ceil(4);
    // SAFETY: the caller's contract.
    unsafe {
        // acc[r][q]: channels 4q..4q+4, two partial sums each.
        let mut acc = [[_mm256_setzero_si256(); 4]; R];
        let zero = _mm256_setzero_si256();
        for g in 0..k4 {
            let mut wq = [_mm256_setzero_si256(); 4];
            for (q, v) in wq.iter_mut().enumerate() {
                *v = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(g * 64 + q * 16).cast()));
            }
            let whole = 4 * g + 4 <= k;
            for (r, row) in acc.iter_mut().enumerate() {
                // A broadcast straight from memory, interleaved with zeros: [x0 x1 x2 x3] as i16.
                let xb = if whole {
                    _mm256_unpacklo_epi8(_mm256_broadcastd_epi32(_mm_loadu_si32(x.add(r * k + 4 * g))), zero)
                } else {
                    widen4(group(x.add(r * k), g, k))
                };
                for (a, &wv) in row.iter_mut().zip(&wq) {
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xb, wv));
                }
            }
        }
        let mut out = [[_mm256_setzero_si256(); 2]; R];
        for (o, a) in out.iter_mut().zip(&acc) {
            // hadd pairs within 128-bit lanes: [c0 c1 c4 c5 | c2 c3 c6 c7], then restore order.
            o[0] = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_hadd_epi32(a[0], a[1]));
            o[1] = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_hadd_epi32(a[2], a[3]));
        }
        out
    }
}

/// Per-channel `Requant8`s of the 16 channels of tile `t` (lanes past `n` read padding).
///
/// # Safety
/// The CPU has AVX2; the per-channel arrays (and `m_res`) are padded to whole tiles.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile_requant(t: usize, q: &QConv, m_res: Option<&[i32]>) -> [Requant8; 2] {
    // SAFETY: the caller's contract.
    unsafe {
        [0, 1].map(|h| {
            let at = t * 16 + 8 * h;
            let mr = m_res.map_or(_mm256_setzero_si256(), |a| _mm256_loadu_si256(a.as_ptr().add(at).cast()));
            let m = _mm256_loadu_si256(q.m.as_ptr().add(at).cast());
            Requant8::of(m, mr, _mm256_loadu_si256(q.shift.as_ptr().add(at).cast()), q)
        })
    }
}

/// Requantizes one pixel's sums of a tile (`len` channels, from `at` in `out` and in the
/// shortcut's levels) and stores its levels.
///
/// # Safety
/// The CPU has AVX2; `out` (and the shortcut's levels) hold `at + len` levels.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn finish(
    acc: [__m256i; 2],
    bias: &[__m256i; 2],
    rq: &[Requant8; 2],
    res: Option<(&[u8], QShortcut)>,
    q: &QConv,
    at: usize,
    len: usize,
    out: &mut [u8],
) {
    let mut y = [_mm256_setzero_si256(); 2];
    for h in 0..2 {
        let a = _mm256_add_epi32(acc[h], bias[h]);
        let sc = res.map(|(levels, s)| {
            let mut b = [0u8; 8];
            // Nothing past the tile's `len` channels (its second half may hold none, and start
            // past the levels' end).
            let src = &levels[(at + 8 * h).min(levels.len())..][..len.saturating_sub(8 * h).min(8)];
            b[..src.len()].copy_from_slice(src);
            // SAFETY: 8 bytes of a local array.
            let l = _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(b.as_ptr().cast()) });
            _mm256_sub_epi32(l, _mm256_set1_epi32(s.zero))
        });
        y[h] = rq[h].unclamped(a, sc);
    }
    // SAFETY: the caller's contract.
    unsafe { store_bytes(out.as_mut_ptr().add(at), pack16(y[0], y[1], q.clamp), len) };
}

/// `conv::pointwise` with `vpmaddwd`: the same operands and results.
///
/// # Safety
/// The CPU has AVX2 and FMA; `q`'s packed weights, bias and per-channel arrays are padded to
/// whole tiles of 16 channels (and its shortcut's multipliers too).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn pointwise<S: PwShape>(x: &[u8], s: S, q: &QConv, res: Option<(&[u8], QShortcut)>, out: &mut [u8]) {
    // SAFETY: the caller's contract.
    unsafe { pointwise_with::<Madd, S>(x, s, q, res, out) }
}

/// `conv::pointwise` in tiles of 16 channels by 6 and 4 (`D::WIDE`), 2 or 1 pixels.
///
/// # Safety
/// As `pointwise`, with `D`'s features; inlined into a function that has them.
#[inline(always)]
pub(super) unsafe fn pointwise_with<D: Dot8, S: PwShape>(
    x: &[u8],
    s: S,
    q: &QConv,
    res: Option<(&[u8], QShortcut)>,
    out: &mut [u8],
) {
    let (k, n) = (s.k(), s.n());
    let pixels = out.len() / n;
    let (tiles, k4) = (n.div_ceil(16), k.div_ceil(4));
    assert!(x.len() >= pixels * k && q.weight.len() >= tiles * k4 * 64, "internal error: pointwise operands");
    let t16 = tiles * 16;
    assert!(q.bias.len() >= t16 && q.m.len() >= t16 && q.shift.len() >= t16, "internal error: per-channel arrays");
    if let Some((r, s)) = res {
        assert!(r.len() >= pixels * n && s.m.len() >= t16, "internal error: shortcut operands");
    }
    // SAFETY: operands checked above; each tile's pixels and channels lie in them.
    unsafe {
        for t in 0..tiles {
            let rq = tile_requant(t, q, res.map(|(_, s)| s.m));
            let mut bias = [_mm256_setzero_si256(); 2];
            for (h, b) in bias.iter_mut().enumerate() {
                *b = _mm256_loadu_si256(q.bias.as_ptr().add(t * 16 + 8 * h).cast());
            }
            let len = (n - t * 16).min(16);
            let w = q.weight.as_ptr().add(t * k4 * 64);
            let tile = Tile { x, k, n, w, t, len, bias: &bias, rq: &rq, res, q };
            let mut p = 0;
            if D::WIDE {
                while p + 6 <= pixels {
                    tile.run::<D, 6>(p, out);
                    p += 6;
                }
                if p + 4 <= pixels {
                    tile.run::<D, 4>(p, out);
                    p += 4;
                }
            }
            while p + 2 <= pixels {
                tile.run::<D, 2>(p, out);
                p += 2;
            }
            if p < pixels {
                tile.run::<D, 1>(p, out);
            }
        }
    }
}

/// One tile of 16 channels of a 1x1 convolution: its operands and constants.
struct Tile<'a> {
    x: &'a [u8],
    k: usize,
    n: usize,
    w: *const i8,
    t: usize,
    len: usize,
    bias: &'a [__m256i; 2],
    rq: &'a [Requant8; 2],
    res: Option<(&'a [u8], QShortcut<'a>)>,
    q: &'a QConv<'a>,
}

impl Tile<'_> {
    /// `R` pixels from `p`.
    ///
    /// # Safety
    /// `pointwise_with`'s operands, checked; the pixels lie in them.
    #[inline(always)]
    unsafe fn run<D: Dot8, const R: usize>(&self, p: usize, out: &mut [u8]) {
        // SAFETY: the caller's contract.
        unsafe {
            let acc = D::accumulate::<R>(self.x.as_ptr().add(p * self.k), self.k, self.w);
            for (r, a) in acc.into_iter().enumerate() {
                let at = (p + r) * self.n + self.t * 16;
                finish(a, self.bias, self.rq, self.res, self.q, at, self.len, out);
            }
        }
    }
}

/// `conv::linear` with `vpmaddwd`: the same operands and results.
///
/// # Safety
/// The CPU has AVX2 and FMA; the weights, bias and scales hold whole tiles of 16 classes up to
/// `classes.end`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn linear(x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
    // SAFETY: the caller's contract.
    unsafe { linear_with::<Madd>(x, k, classes, q, out) }
}

/// `conv::linear`, a tile of 16 classes at a time.
///
/// # Safety
/// As `linear`, with `D`'s features; inlined into a function that has them.
#[inline(always)]
pub(super) unsafe fn linear_with<D: Dot8>(x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
    let (k4, t1) = (k.div_ceil(4), classes.end.div_ceil(16));
    assert!(x.len() >= k && q.weight.len() >= t1 * k4 * 64, "internal error: linear operands");
    assert!(q.bias.len() >= t1 * 16 && q.scales.len() >= t1 * 16 && out.len() >= classes.len());
    // SAFETY: checked above; only the classes of `classes` are stored.
    unsafe {
        for t in classes.start / 16..t1 {
            let [acc] = D::accumulate::<1>(x.as_ptr(), k, q.weight.as_ptr().add(t * k4 * 64));
            let mut v = [0f32; 16];
            for (h, &sum) in acc.iter().enumerate() {
                let a = _mm256_add_epi32(sum, _mm256_loadu_si256(q.bias.as_ptr().add(t * 16 + 8 * h).cast()));
                let f = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_loadu_ps(q.scales.as_ptr().add(t * 16 + 8 * h)));
                _mm256_storeu_ps(v.as_mut_ptr().add(8 * h), f);
            }
            for (l, &f) in v.iter().enumerate() {
                let c = t * 16 + l;
                if classes.contains(&c) {
                    out[c - classes.start] = f;
                }
            }
        }
    }
}

/// `conv::quantize` 8 values at a time: the same operations in the same order (see `vnni::
/// quantize` for NaN).
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn quantize(x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]) {
    assert!(out.len() >= x.len(), "internal error: quantize output");
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23, as `arith::quantize`
    let (inv, magic, zp) = (_mm256_set1_ps(inverse_scale), _mm256_set1_ps(MAGIC), _mm256_set1_ps(zero_point as f32));
    let (lo, hi) = (_mm256_set1_ps(-1024.0), _mm256_set1_ps(1024.0));
    let (zero, top) = (_mm256_setzero_ps(), _mm256_set1_ps(255.0));
    let whole = x.len() / 8 * 8;
    let mut i = 0;
    while i < whole {
        // SAFETY: `i + 8 <= x.len() <= out.len()`.
        unsafe {
            let v = _mm256_loadu_ps(x.as_ptr().add(i));
            let y = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, inv), lo), hi);
            let r = _mm256_sub_ps(_mm256_add_ps(y, magic), magic);
            let q = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, zp), zero), top));
            let w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q));
            _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), _mm_packus_epi16(w, w));
        }
        i += 8;
    }
    super::conv::quantize(&x[whole..], inverse_scale, zero_point, &mut out[whole..]);
}

/// `dw_row` for each row triple of `rows` (`conv::by_rows`).
///
/// # Safety
/// As `dw_row`, for each row.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dw_band<S: DwShape>(rows: &[[Option<&[u8]>; 3]], s: S, q: &QConv, out: &mut [u8]) {
    let (w_in, c, taps, stride, pad_l) = (s.w_in(), s.c(), s.taps(), s.stride(), s.pad_l());
    assert!(taps >= c && q.weight.len() >= 8 * taps + c, "internal error: depthwise weights");
    // SAFETY: the caller's contract, row by row.
    super::conv::by_rows(rows, out, |src, o| unsafe { dw_row(src, w_in, c, taps, stride, pad_l, q, o) })
}

/// `conv::dw_row` with `vpmaddwd` on pairs of taps, 16 channels at a time (the last group's
/// levels and weights staged through zero-padded copies): the same operands and results.
///
/// # Safety
/// The CPU has AVX2 and FMA; operands as `conv::dw_row`, the per-channel arrays padded to whole
/// groups of 64.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_row(
    rows: [Option<&[u8]>; 3],
    w_in: usize,
    c: usize,
    tap_stride: usize,
    stride: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / c;
    let base = dw_rows(rows, w_in, c, q);
    // SAFETY: loads of 16 bytes stay inside a present row or the 16-byte staging copies below;
    // weights and per-channel arrays are read below `9 * c` and the padded length; stores
    // inside `out`.
    unsafe {
        let zpv = _mm_set1_epi8(q.input_zero as u8 as i8);
        let zp16 = _mm256_set1_epi16(q.input_zero as i16);
        let mut c0 = 0;
        while c0 < c {
            let len = (c - c0).min(16);
            // The 9 taps' weights of these channels (zero past `len`), pairs interleaved as
            // i16: pair p holds taps 2p and 2p + 1 (tap 9 is zero), low and high 8 channels.
            let mut taps = [_mm_setzero_si128(); 10];
            for (t, v) in taps.iter_mut().enumerate().take(9) {
                let mut b = [0i8; 16];
                b[..len].copy_from_slice(&q.weight[t * tap_stride + c0..][..len]);
                *v = _mm_loadu_si128(b.as_ptr().cast());
            }
            let mut wp = [[_mm256_setzero_si256(); 2]; 5];
            for (p, w) in wp.iter_mut().enumerate() {
                w[0] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(taps[2 * p], taps[2 * p + 1]));
                w[1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(taps[2 * p], taps[2 * p + 1]));
            }
            // Per-channel constants from the packed groups (`dw_lane`).
            let idx = [0, 1].map(|h| {
                let lanes: [i32; 8] = core::array::from_fn(|i| dw_lane(c0 + 8 * h + i) as i32);
                _mm256_loadu_si256(lanes.as_ptr().cast())
            });
            let bias = idx.map(|i| _mm256_i32gather_epi32::<4>(q.bias.as_ptr(), i));
            let rq = idx.map(|i| {
                let (m, sh) =
                    (_mm256_i32gather_epi32::<4>(q.m.as_ptr(), i), _mm256_i32gather_epi32::<4>(q.shift.as_ptr(), i));
                Requant8::of(m, _mm256_setzero_si256(), sh, q)
            });
            for ox in 0..wo {
                let ix0 = (ox * stride) as isize - pad_l as isize;
                let mut x = [zpv; 10];
                for (ky, &row) in base.iter().enumerate() {
                    if row.is_null() {
                        continue;
                    }
                    for kx in 0..3 {
                        let ix = ix0 + kx as isize;
                        if (0..w_in as isize).contains(&ix) {
                            let at = ix as usize * c + c0;
                            x[ky * 3 + kx] = if len == 16 {
                                _mm_loadu_si128(row.add(at).cast())
                            } else {
                                let mut b = [0u8; 16];
                                core::ptr::copy_nonoverlapping(row.add(at), b.as_mut_ptr(), len);
                                _mm_loadu_si128(b.as_ptr().cast())
                            };
                        }
                    }
                }
                let mut acc = bias;
                for (p, w) in wp.iter().enumerate() {
                    let lo = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x[2 * p], x[2 * p + 1])), zp16);
                    let hi = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi8(x[2 * p], x[2 * p + 1])), zp16);
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(lo, w[0]));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(hi, w[1]));
                }
                let y = [rq[0].unclamped(acc[0], None), rq[1].unclamped(acc[1], None)];
                store_bytes(out.as_mut_ptr().add(ox * c + c0), pack16(y[0], y[1], q.clamp), len);
            }
            c0 += 16;
        }
    }
}
