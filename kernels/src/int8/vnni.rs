//! AVX-512 int8 kernels on VNNI's `vpdpbusd`, which multiplies 4 unsigned activation bytes by
//! 4 signed weight bytes and adds the sums to 16 i32 lanes, exactly (no 16-bit intermediate to
//! saturate).
//!
//! - 1x1 convolutions (and the stem, on its 27-level patches, and the classifier): weights in
//!   tiles of 16 output channels, `[k / 4][16][4]`, the input's zero point folded into the
//!   bias, so the activations enter unchanged; 8 pixels by 32 channels per register tile (16
//!   by 16 for a layer of one channel tile; with two, some tiles of 7 pixels where tiles of
//!   7 and 8 cover the pixels exactly, as on 7x7 maps). With AMX (`pointwise_amx`), the tiles start from
//!   the AMX sums of the inputs' whole 64-level chunks and add only the rest.
//! - Depthwise: `vnni_dw`.
//! - Both requantize with `vnni_requant::Requant16`.

use super::conv::group;
use super::isa::PwShape;
use super::vnni_requant::{lanes, pack32, Requant16};
use super::{QConv, QLinear, QShortcut};
use core::arch::x86_64::*;
use core::ops::Range;

/// Pixels per register tile (with two channel tiles: 16 accumulators).
const MR: usize = 8;

/// The accumulators of `R` pixels (rows of `k` levels from `x`) by `T` tiles of 16 channels
/// (packed weights from `w`, biases from `bias`) over the inputs from group `g0` on, plus the
/// sums of the inputs before it (when `g0 > 0`: pixel `r` and tile `t` at `sums.add(32 * t + r)`).
/// One pointer walks the pixels' rows, the whole groups of 4 levels broadcast straight from
/// memory; a last partial group, zero-padded.
///
/// # Safety
/// The CPU has the features; `x` holds `R` rows of `k` levels, `w` `T` tiles of `k.div_ceil(4)`
/// groups, `bias` `16 * T` values; with `g0 > 0`, `sums` holds those rows, 64-byte aligned.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn accumulate<const R: usize, const T: usize>(
    x: *const u8,
    k: usize,
    g0: usize,
    w: *const i8,
    bias: *const i32,
    sums: *const [i32; 16],
) -> [[__m512i; T]; R] {
    let k4 = k.div_ceil(4);
    // SAFETY: the caller's contract.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); T]; R];
        for t in 0..T {
            let b = _mm512_loadu_si512(bias.add(16 * t).cast());
            for (r, row) in acc.iter_mut().enumerate() {
                row[t] = if g0 > 0 { _mm512_add_epi32(b, _mm512_load_si512(sums.add(32 * t + r).cast())) } else { b };
            }
        }
        let (mut xp, mut wp) = (x.add(4 * g0), w.add(64 * g0));
        for _ in g0..k / 4 {
            let mut wv = [_mm512_setzero_si512(); T];
            for (t, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(wp.add(t * k4 * 64).cast());
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let xb = _mm512_set1_epi32((xp.add(r * k) as *const i32).read_unaligned());
                for t in 0..T {
                    row[t] = _mm512_dpbusd_epi32(row[t], xb, wv[t]);
                }
            }
            xp = xp.add(4);
            wp = wp.add(64);
        }
        if !k.is_multiple_of(4) {
            let g = k / 4;
            for (r, row) in acc.iter_mut().enumerate() {
                let xb = _mm512_set1_epi32(group(x.add(r * k), g, k));
                for (t, a) in row.iter_mut().enumerate() {
                    *a = _mm512_dpbusd_epi32(*a, xb, _mm512_loadu_si512(wp.add(t * k4 * 64).cast()));
                }
            }
        }
        acc
    }
}

/// `R` pixels (from `p0`) by `T` channel tiles (from tile `t0`); with `g0 > 0`, the sums of
/// the inputs before group `g0` are in `sums` (pixel `p0` first).
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
    rq: &[Requant16; 2],
    mask32: u32,
    g0: usize,
    sums: *const [i32; 16],
) {
    let k4 = k.div_ceil(4);
    // SAFETY: `pointwise_amx` checked that `x`, `out` (and the shortcut) hold every pixel, the
    // packed weights and per-channel arrays every tile, and passes tiles and pixels in range.
    unsafe {
        let acc = accumulate::<R, T>(
            x.as_ptr().add(p0 * k),
            k,
            g0,
            q.weight.as_ptr().add(t0 * k4 * 64),
            q.bias.as_ptr().add(t0 * 16),
            sums,
        );
        const { assert!(T == 1 || T == 2, "a tile is one or two vectors of channels") };
        // The requantization's form and the shortcut decided once per tile, not per vector.
        // `pointwise_amx` gave both tiles one form.
        let narrow = rq[0].narrow;
        let e = Epilogue { n, q, out, p0, t0, rq, mask32 };
        match (narrow, res) {
            (true, None) => e.store::<R, T, true>(&acc, None),
            (false, None) => e.store::<R, T, false>(&acc, None),
            (true, Some(r)) => e.store::<R, T, true>(&acc, Some(r)),
            (false, Some(r)) => e.store::<R, T, false>(&acc, Some(r)),
        }
    }
}

/// Where a register tile's levels go, and their requantization.
struct Epilogue<'a> {
    n: usize,
    q: &'a QConv<'a>,
    out: &'a mut [u8],
    p0: usize,
    t0: usize,
    rq: &'a [Requant16; 2],
    mask32: u32,
}

impl Epilogue<'_> {
    /// Requantizes the accumulators of `R` pixels by `T` channel tiles (plus the shortcut's
    /// levels) and stores their levels, every vector in the `NARROW` form or every one not.
    ///
    /// # Safety
    /// As `tile`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn store<const R: usize, const T: usize, const NARROW: bool>(
        self,
        acc: &[[__m512i; T]; R],
        res: Option<(&[u8], QShortcut)>,
    ) {
        let Epilogue { n, q, out, p0, t0, rq, mask32 } = self;
        // SAFETY: as `tile`.
        unsafe {
            for (r, row) in acc.iter().enumerate() {
                let p = p0 + r;
                let mut y = [_mm512_setzero_si512(); T];
                for (t, &a) in row.iter().enumerate() {
                    let (c0, mask) = ((t0 + t) * 16, (mask32 >> (16 * t)) as __mmask16);
                    let sc = res.map(|(levels, s)| {
                        let l = _mm_maskz_loadu_epi8(mask, levels.as_ptr().add(p * n + c0).cast());
                        _mm512_sub_epi32(_mm512_cvtepu8_epi32(l), _mm512_set1_epi32(s.zero))
                    });
                    let (even, odd) = rq[t].products(a, sc);
                    y[t] = if NARROW { rq[t].narrow_of(even, odd) } else { rq[t].wide_of(even, odd) };
                }
                let v = pack32(y[0], y[T - 1], q.clamp);
                let dst = out.as_mut_ptr().add(p * n + t0 * 16);
                // Masked stores cost more than plain ones on some cores (AMD Zen).
                if mask32 == !0 {
                    _mm256_storeu_si256(dst.cast(), v);
                } else {
                    _mm256_mask_storeu_epi8(dst.cast(), mask32, v);
                }
            }
        }
    }
}

/// `conv::pointwise` with `vpdpbusd`: the same operands and results. With `amx`, the sums of
/// each 16 pixels' whole 64-level input chunks come from AMX tiles (`amx::block`).
///
/// # Safety
/// The CPU has AVX-512F, BW, VL and VNNI; `q`'s packed weights, bias and per-channel arrays are
/// padded to whole tiles of 16 channels (and its shortcut's multipliers too). With `amx`,
/// `amx::has_amx()` and the tiles configured on this thread.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn pointwise_amx<S: PwShape>(
    x: &[u8],
    s: S,
    q: &QConv,
    res: Option<(&[u8], QShortcut)>,
    out: &mut [u8],
    amx: bool,
) {
    let (k, n) = (s.k(), s.n());
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
    let chunks = if amx { k / 64 } else { 0 };
    // Written by `amx::block` before any row of it is read.
    let mut sums = core::mem::MaybeUninit::<super::amx::Sums>::uninit();
    // SAFETY: operands checked above; the CPU's features (and AMX's set-up) are the caller's
    // contract.
    unsafe {
        let m_res = res.map(|(_, s)| s.m);
        let mut t = 0;
        while t < tiles {
            let two = t + 2 <= tiles;
            // The requantization constants of the tiles, once for all their pixels.
            let masks = [lanes(n - t * 16), if two { lanes(n - (t + 1) * 16) } else { 0 }];
            let mut rq = [Requant16::new(t * 16, masks[0], q, m_res, true); 2];
            if two {
                rq[1] = Requant16::new((t + 1) * 16, masks[1], q, m_res, true);
                // Both tiles in one form (`tile` picks it once for both).
                if rq[0].narrow != rq[1].narrow {
                    rq = [0, 1].map(|h| Requant16::new((t + h) * 16, masks[h], q, m_res, false));
                }
            }
            let mask32 = u32::from(masks[0]) | u32::from(masks[1]) << 16;
            macro_rules! run {
                ($r:expr, $p:expr, $g0:expr, $sums:expr) => {
                    // Opaque, so the constants stay in memory: hoisted out of the pixel loop
                    // into registers they crowd out the accumulators (spilled in the K loop).
                    let rq = core::hint::black_box(&rq);
                    if two {
                        tile::<$r, 2>(x, k, n, q, res, out, $p, t, rq, mask32, $g0, $sums)
                    } else {
                        tile::<$r, 1>(x, k, n, q, res, out, $p, t, rq, mask32, $g0, $sums)
                    }
                };
            }
            let mut p = 0;
            if chunks > 0 {
                let w = q.weight.as_ptr().add(t * k4 * 64);
                let wt = [w, if two { w.add(k4 * 64) } else { w }];
                let xp = x.as_ptr();
                while p + 16 <= pixels {
                    let blocks = if p + 32 <= pixels { 2 } else { 1 };
                    match (blocks, two) {
                        (2, true) => super::amx::block::<2, 2>(xp.add(p * k), k, chunks, wt, sums.as_mut_ptr()),
                        (2, false) => super::amx::block::<2, 1>(xp.add(p * k), k, chunks, wt, sums.as_mut_ptr()),
                        (_, true) => super::amx::block::<1, 2>(xp.add(p * k), k, chunks, wt, sums.as_mut_ptr()),
                        (_, false) => super::amx::block::<1, 1>(xp.add(p * k), k, chunks, wt, sums.as_mut_ptr()),
                    }
                    let rows = sums.as_ptr().cast::<[i32; 16]>();
                    for part in 0..2 * blocks {
                        // Pixels `8 * part..` of the block: their rows of the sums.
                        run!(MR, p + 8 * part, 16 * chunks, rows.add(8 * part));
                    }
                    p += 16 * blocks;
                }
            }
            let none = core::ptr::null();
            // One channel tile: 16 pixels a register tile, for as many accumulators.
            while !two && p + 2 * MR <= pixels {
                tile::<{ 2 * MR }, 1>(x, k, n, q, res, out, p, t, core::hint::black_box(&rq), mask32, 0, none);
                p += 2 * MR;
            }
            // Two channel tiles: where tiles of `MR - 1` and `MR` pixels cover the rest
            // exactly in as many tiles as `MR` alone, some of `MR - 1` (49 pixels in 7 of 7,
            // not 6 of 8 and a latency-bound 1).
            let left = pixels - p;
            let pixel_tiles = left.div_ceil(MR);
            if two && !left.is_multiple_of(MR) && left >= (MR - 1) * pixel_tiles {
                for _ in 0..MR * pixel_tiles - left {
                    tile::<{ MR - 1 }, 2>(x, k, n, q, res, out, p, t, core::hint::black_box(&rq), mask32, 0, none);
                    p += MR - 1;
                }
            }
            while p + MR <= pixels {
                run!(MR, p, 0, none);
                p += MR;
            }
            // The rest in tiles of 4, 2 and 1 pixels.
            if pixels - p >= 4 {
                run!(4, p, 0, none);
                p += 4;
            }
            if pixels - p >= 2 {
                run!(2, p, 0, none);
                p += 2;
            }
            if pixels > p {
                run!(1, p, 0, none);
            }
            t += if two { 2 } else { 1 };
        }
    }
}

/// `conv::linear` with `vpdpbusd`: the same operands and results.
///
/// # Safety
/// The CPU has AVX-512F, BW, VL and VNNI; the weights, bias and scales hold whole tiles of 16
/// classes up to `classes.end`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn linear(x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
    let (k4, t1) = (k.div_ceil(4), classes.end.div_ceil(16));
    assert!(x.len() >= k && q.weight.len() >= t1 * k4 * 64, "internal error: linear operands");
    assert!(q.bias.len() >= t1 * 16 && q.scales.len() >= t1 * 16 && out.len() >= classes.len());
    let mut t = classes.start / 16;
    // SAFETY: checked above; `linear_tiles` stores only the lanes of `classes`.
    unsafe {
        while t < t1 {
            match t1 - t {
                1 => linear_tiles::<1>(x, k, t, q, &classes, out),
                2 => linear_tiles::<2>(x, k, t, q, &classes, out),
                3 => linear_tiles::<3>(x, k, t, q, &classes, out),
                _ => linear_tiles::<4>(x, k, t, q, &classes, out),
            }
            t += 4;
        }
    }
}

/// `T` tiles of 16 classes from tile `t0`: independent accumulator chains.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn linear_tiles<const T: usize>(
    x: &[u8],
    k: usize,
    t0: usize,
    q: &QLinear,
    classes: &Range<usize>,
    out: &mut [f32],
) {
    let k4 = k.div_ceil(4);
    // SAFETY: `linear` checked the weights, bias and scales up to tile `t0 + T`; stores keep
    // the lanes of `classes`, which `out` holds from `classes.start`.
    unsafe {
        let w = q.weight.as_ptr();
        let mut acc = [_mm512_setzero_si512(); T];
        for g in 0..k4 {
            let xb = _mm512_set1_epi32(group(x.as_ptr(), g, k));
            for (t, a) in acc.iter_mut().enumerate() {
                *a = _mm512_dpbusd_epi32(*a, xb, _mm512_loadu_si512(w.add(((t0 + t) * k4 + g) * 64).cast()));
            }
        }
        for (t, &a) in acc.iter().enumerate() {
            let c0 = (t0 + t) * 16;
            let v = _mm512_add_epi32(a, _mm512_loadu_si512(q.bias.as_ptr().add(c0).cast()));
            let f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_loadu_ps(q.scales.as_ptr().add(c0)));
            let mut mask: __mmask16 = 0;
            for l in 0..16 {
                if classes.contains(&(c0 + l)) {
                    mask |= 1 << l;
                }
            }
            _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(c0).wrapping_sub(classes.start), mask, f);
        }
    }
}

/// `conv::quantize` 16 values at a time: the same operations in the same order (a NaN meets
/// the lower clamp first, as `max` returns its second operand for NaN, and gives level 0 as the
/// scalar saturating cast does).
///
/// # Safety
/// The CPU has AVX-512F, BW and VL.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn quantize(x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]) {
    assert!(out.len() >= x.len(), "internal error: quantize output");
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23, as `arith::quantize`
    let (inv, magic, zp) = (_mm512_set1_ps(inverse_scale), _mm512_set1_ps(MAGIC), _mm512_set1_ps(zero_point as f32));
    let (lo, hi) = (_mm512_set1_ps(-1024.0), _mm512_set1_ps(1024.0));
    let (zero, top) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    let mut i = 0;
    while i < x.len() {
        let mask = lanes(x.len() - i);
        // SAFETY: lanes past `x.len()` (and so past `out.len()`) are masked.
        unsafe {
            let v = _mm512_maskz_loadu_ps(mask, x.as_ptr().add(i));
            let y = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), lo), hi);
            let r = _mm512_sub_ps(_mm512_add_ps(y, magic), magic);
            let q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zp), zero), top);
            _mm_mask_storeu_epi8(out.as_mut_ptr().add(i).cast(), mask, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(q)));
        }
        i += 16;
    }
}
