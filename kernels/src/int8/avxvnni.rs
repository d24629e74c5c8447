//! AVX-VNNI int8 kernels: `vpdpbusd` on 256-bit vectors, for x86 CPUs that have it without
//! AVX-512 (4 unsigned activation bytes times 4 signed weight bytes added to 8 i32 lanes,
//! exactly). The 1x1 and classifier loops and their byte packs, the requantization
//! (`Requant8`) and the image quantization are the AVX2 kernels' (`avx2`); the dot products
//! and the depthwise are this module's.
//!
//! - 1x1 convolutions (and the stem, on its patches, and the classifier): each group of 4
//!   inputs of a packed tile (16 channels x 4 inputs) is two vectors as it lies in memory, the
//!   pixel's 4 levels broadcast; 6 pixels x 16 channels per register tile (12 accumulators),
//!   the sums already in channel order.
//! - Depthwise: the VNNI kernel's scheme at half width, 32 channels per load: a row's four
//!   columns interleaved per channel feed one `vpdpbusd` per 8 channels, two output pixels at
//!   stride 1, a run of output rows per call (`dw_band`). The unpacks work in 128-bit lanes, so a 64-channel group's packed per-channel
//!   arrays (`dw_lane`) hold each vector's 8 lanes of a 32-channel half contiguously.

use super::avx2::{linear_with, pointwise_with, store_bytes, Dot8, Requant8};
use super::conv::{dw_rows, group};
use super::{QConv, QLinear, QShortcut};
use core::arch::x86_64::*;
use core::ops::Range;

/// `vpdpbusd` on 256-bit vectors (AVX-VNNI).
pub(super) struct Dpbusd;

impl Dot8 for Dpbusd {
    const WIDE: bool = true;

    #[inline(always)]
    unsafe fn accumulate<const R: usize>(x: *const u8, k: usize, w: *const i8) -> [[__m256i; 2]; R] {
        // SAFETY: the caller's contract.
        unsafe { dpbusd::<R>(x, k, w) }
    }
}

/// `Dpbusd`'s tiles: whole groups of 4 levels broadcast straight from memory, a last partial
/// group zero-padded.
///
/// # Safety
/// As `Dot8::accumulate`, with AVX2 and AVX-VNNI.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn dpbusd<const R: usize>(x: *const u8, k: usize, w: *const i8) -> [[__m256i; 2]; R] {
    // SAFETY: the caller's contract.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let (mut xp, mut wp) = (x, w);
        for _ in 0..k / 4 {
            let wv = [_mm256_loadu_si256(wp.cast()), _mm256_loadu_si256(wp.add(32).cast())];
            for (r, row) in acc.iter_mut().enumerate() {
                let xb = _mm256_set1_epi32((xp.add(r * k) as *const i32).read_unaligned());
                row[0] = _mm256_dpbusd_avx_epi32(row[0], xb, wv[0]);
                row[1] = _mm256_dpbusd_avx_epi32(row[1], xb, wv[1]);
            }
            xp = xp.add(4);
            wp = wp.add(64);
        }
        if !k.is_multiple_of(4) {
            let wv = [_mm256_loadu_si256(wp.cast()), _mm256_loadu_si256(wp.add(32).cast())];
            for (r, row) in acc.iter_mut().enumerate() {
                let xb = _mm256_set1_epi32(group(x.add(r * k), k / 4, k));
                row[0] = _mm256_dpbusd_avx_epi32(row[0], xb, wv[0]);
                row[1] = _mm256_dpbusd_avx_epi32(row[1], xb, wv[1]);
            }
        }
        acc
    }
}

/// `conv::pointwise` with `vpdpbusd`: the same operands and results.
///
/// # Safety
/// The CPU has AVX2, FMA and AVX-VNNI; `q`'s packed weights, bias and per-channel arrays are
/// padded to whole tiles of 16 channels (and its shortcut's multipliers too).
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(crate) unsafe fn pointwise(
    x: &[u8],
    k: usize,
    n: usize,
    q: &QConv,
    res: Option<(&[u8], QShortcut)>,
    out: &mut [u8],
) {
    // SAFETY: the caller's contract.
    unsafe { pointwise_with::<Dpbusd>(x, k, n, q, res, out) }
}

/// `conv::linear` with `vpdpbusd`: the same operands and results.
///
/// # Safety
/// The CPU has AVX2, FMA and AVX-VNNI; the weights, bias and scales hold whole tiles of 16
/// classes up to `classes.end`.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(crate) unsafe fn linear(x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
    // SAFETY: the caller's contract.
    unsafe { linear_with::<Dpbusd>(x, k, classes, q, out) }
}

/// 32 bytes from `src`, of which only the first `len` are read (the rest zero).
///
/// # Safety
/// `src` is valid for `len` bytes.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn load32(src: *const u8, len: usize) -> __m256i {
    // SAFETY: the caller's contract; a whole load only when 32 bytes are there.
    unsafe {
        if len >= 32 {
            _mm256_loadu_si256(src.cast())
        } else {
            let mut b = [0u8; 32];
            core::ptr::copy_nonoverlapping(src, b.as_mut_ptr(), len);
            _mm256_loadu_si256(b.as_ptr().cast())
        }
    }
}

/// `conv::dw_row` for each row triple of `rows` (output row `r` at `out[r * wo * c..]`), 32
/// channels at a time: a row's four columns interleaved per channel (`quads`) feed one `vpdpbusd` per 8 channels with the row's three taps, and at
/// stride 1 a second with the taps shifted by a byte, for the next output pixel; a group's taps
/// and constants are set up once for all the rows. The same operands and results.
///
/// # Safety
/// The CPU has AVX2, FMA and AVX-VNNI; operands as `conv::dw_row` for each row, the
/// per-channel arrays padded to whole groups of 64.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(crate) unsafe fn dw_band(
    rows: &[[Option<&[u8]>; 3]],
    w_in: usize,
    c: usize,
    stride: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / rows.len().max(1) / c;
    assert!(rows.len() * wo * c <= out.len(), "internal error: depthwise band");
    // SAFETY: loads read `len` bytes of a present row's pixel (`0 <= ix < w_in`; `dw_rows`
    // checked each row) or of the weights (`9 * c`), and the padded per-channel arrays; stores
    // stay inside output row `r` of `out`.
    unsafe {
        let zv = _mm256_set1_epi8(q.input_zero as u8 as i8);
        let zero = _mm256_setzero_si256();
        let mut c0 = 0;
        while c0 < c {
            let len = (c - c0).min(32);
            let mut taps = [zero; 9];
            for (t, v) in taps.iter_mut().enumerate() {
                *v = load32(q.weight.as_ptr().add(t * c + c0).cast(), len);
            }
            // Row ky's taps as quads for the pixel at a quad's first column (`first`) and at
            // its second (`second`, stride 1 only).
            let mut first = [[zero; 4]; 3];
            let mut second = [[zero; 4]; 3];
            for ky in 0..3 {
                let [t0, t1, t2] = [taps[3 * ky], taps[3 * ky + 1], taps[3 * ky + 2]];
                first[ky] = quads(t0, t1, t2, zero);
                second[ky] = quads(zero, t0, t1, t2);
            }
            // Vector j's lanes in the packed arrays (`dw_lane`): 8 from here, for the 32-channel
            // half of a group of 64 that `c0` starts.
            let lane0 = c0 / 64 * 64 + c0 % 64 / 32 * 8;
            let rq = [0, 1, 2, 3].map(|j| {
                let m = _mm256_loadu_si256(q.m.as_ptr().add(lane0 + 16 * j).cast());
                let shift = _mm256_loadu_si256(q.shift.as_ptr().add(lane0 + 16 * j).cast());
                Requant8::of(m, zero, shift, q)
            });
            // The bias, and each tap row's share of the zero point's correction.
            let (mut bias, mut zp_row) = ([zero; 4], [[zero; 4]; 3]);
            for j in 0..4 {
                bias[j] = _mm256_loadu_si256(q.bias.as_ptr().add(lane0 + 16 * j).cast());
                for ky in 0..3 {
                    zp_row[ky][j] = _mm256_dpbusd_avx_epi32(zero, zv, first[ky][j]);
                }
            }
            for (r, &src) in rows.iter().enumerate() {
                // Absent rows: null, never read.
                let base = dw_rows(src, w_in, c, q);
                let mut init = bias;
                for (ky, row) in base.iter().enumerate() {
                    if !row.is_null() {
                        for j in 0..4 {
                            init[j] = _mm256_sub_epi32(init[j], zp_row[ky][j]);
                        }
                    }
                }
                let all_rows = base.iter().all(|r| !r.is_null());
                let ops = Quads { base: &base, w_in, c, c0, len, zv, first: &first, second: &second };
                let out = out.as_mut_ptr().add(r * wo * c);
                let mut ox = 0;
                while ox < wo {
                    let ix0 = (ox * stride) as isize - pad_l as isize;
                    // Inner pixels of inner rows (nearly all) take the branch-free form.
                    let inside = all_rows && ix0 >= 0 && ix0 + 4 <= w_in as isize && len == 32;
                    let pair = stride == 1 && ox + 1 < wo;
                    let (mut a, mut b) = (init, init);
                    match (inside, pair) {
                        (true, true) => ops.taps::<true, true>(&mut a, &mut b, ix0),
                        (true, false) => ops.taps::<true, false>(&mut a, &mut b, ix0),
                        (false, true) => ops.taps::<false, true>(&mut a, &mut b, ix0),
                        (false, false) => ops.taps::<false, false>(&mut a, &mut b, ix0),
                    }
                    dw_store(&a, &rq, q.clamp, out.add(ox * c + c0), len);
                    if pair {
                        dw_store(&b, &rq, q.clamp, out.add((ox + 1) * c + c0), len);
                    }
                    ox += if pair { 2 } else { 1 };
                }
            }
            c0 += 32;
        }
    }
}

/// Four vectors of 32 channels' levels (or taps) as four vectors of 8 channels' quads: vector
/// `q`'s lane `i` of 128-bit lane `L` holds the four bytes of channel `16L + 4q + i`, in the
/// order `a, b, c, d` (as `vnni_dw::quads` interleaves rows).
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
fn quads(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
    let (ab_lo, ab_hi) = (_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b));
    let (cd_lo, cd_hi) = (_mm256_unpacklo_epi8(c, d), _mm256_unpackhi_epi8(c, d));
    [
        _mm256_unpacklo_epi16(ab_lo, cd_lo),
        _mm256_unpackhi_epi16(ab_lo, cd_lo),
        _mm256_unpacklo_epi16(ab_hi, cd_hi),
        _mm256_unpackhi_epi16(ab_hi, cd_hi),
    ]
}

/// Requantizes one output pixel's four accumulators (channel `16L + 4q + i` in lane `i` of
/// 128-bit lane `L` of `acc[q]`) and stores its `len` levels: the saturating packs (exact for
/// the clamp) put them back in channel order.
///
/// # Safety
/// The CPU has the features; `dst` is valid for `len` bytes.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn dw_store(acc: &[__m256i; 4], rq: &[Requant8; 4], clamp: (u8, u8), dst: *mut u8, len: usize) {
    let mut y = [_mm256_setzero_si256(); 4];
    for j in 0..4 {
        y[j] = rq[j].unclamped(acc[j], None);
    }
    let mut v = _mm256_packus_epi16(_mm256_packs_epi32(y[0], y[1]), _mm256_packs_epi32(y[2], y[3]));
    // The packs clamp to 0..=255 already (as in `vnni_dw::dw_store`).
    if clamp.0 > 0 {
        v = _mm256_max_epu8(v, _mm256_set1_epi8(clamp.0 as i8));
    }
    if clamp.1 < 255 {
        v = _mm256_min_epu8(v, _mm256_set1_epi8(clamp.1 as i8));
    }
    // SAFETY: the caller's contract.
    unsafe {
        if len == 32 {
            _mm256_storeu_si256(dst.cast(), v);
        } else {
            store_bytes(dst, _mm256_castsi256_si128(v), len);
            if len > 16 {
                store_bytes(dst.add(16), _mm256_extracti128_si256::<1>(v), len - 16);
            }
        }
    }
}

/// One 32-channel part of a depthwise row: its rows, taps and padding value.
struct Quads<'a> {
    base: &'a [*const u8; 3],
    w_in: usize,
    c: usize,
    c0: usize,
    len: usize,
    zv: __m256i,
    first: &'a [[__m256i; 4]; 3],
    second: &'a [[__m256i; 4]; 3],
}

impl Quads<'_> {
    /// The taps of the output pixel at input column `ix0` into `a` and, with `PAIR`, of the
    /// next one into `b`: each present row's columns `ix0..ix0 + 4` as quads. Absent rows (null)
    /// contribute nothing (the bias is corrected for them), columns outside `0..w_in` read the
    /// zero point (`FULL`: every row present, every column inside and 32 channels, unchecked).
    ///
    /// # Safety
    /// The CPU has the features; present rows hold `w_in` pixels of `c` levels, `len` of them
    /// from `c0`; with `FULL`, as said.
    #[inline]
    #[target_feature(enable = "avx2,fma,avxvnni")]
    unsafe fn taps<const FULL: bool, const PAIR: bool>(&self, a: &mut [__m256i; 4], b: &mut [__m256i; 4], ix0: isize) {
        for (ky, &row) in self.base.iter().enumerate() {
            if !FULL && row.is_null() {
                continue;
            }
            let mut x = [self.zv; 4];
            for (kx, v) in x.iter_mut().enumerate() {
                let ix = ix0 + kx as isize;
                if FULL {
                    // SAFETY: a present row, a column inside it, 32 channels (the caller's contract).
                    *v = unsafe { _mm256_loadu_si256(row.add(ix as usize * self.c + self.c0).cast()) };
                } else if (0..self.w_in as isize).contains(&ix) {
                    // SAFETY: a present row, a column inside it, `len` channels from `c0` (the
                    // bytes past `len` are zero and meet zero weights).
                    *v = unsafe { load32(row.add(ix as usize * self.c + self.c0), self.len) };
                }
            }
            let qv = quads(x[0], x[1], x[2], x[3]);
            for j in 0..4 {
                a[j] = _mm256_dpbusd_avx_epi32(a[j], qv[j], self.first[ky][j]);
                if PAIR {
                    b[j] = _mm256_dpbusd_avx_epi32(b[j], qv[j], self.second[ky][j]);
                }
            }
        }
    }
}
