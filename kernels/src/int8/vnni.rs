//! AVX-512 int8 kernels on VNNI's `vpdpbusd`, which multiplies 4 unsigned activation bytes by
//! 4 signed weight bytes and adds the sums to 16 i32 lanes, exactly (no 16-bit intermediate to
//! saturate).
//!
//! - 1x1 convolutions (and the stem, on its 27-level patches, and the classifier): weights in
//!   tiles of 16 output channels, `[k / 4][16][4]`, the input's zero point folded into the
//!   bias, so the activations enter unchanged; 8 pixels by 32 channels per register tile (16
//!   by 16 for a layer of one channel tile; some tiles of 7 pixels where that leaves no
//!   smaller tile, as on 7x7 maps). With AMX (`pointwise_amx`), the tiles start from
//!   the AMX sums of the inputs' whole 64-level chunks and add only the rest.
//! - Depthwise: `vnni_dw`, on this file's requantization.
//! - The requantization (`Requant16`) is `arith::requantize` on 16 lanes, from 64-bit
//!   products of the even and odd lanes, in one of two forms chosen once per register tile or
//!   channel group; the clamp happens where the levels are narrowed to bytes (`pack32`,
//!   `dw_store`).

use super::conv::group;
use super::isa::PwShape;
use super::{QConv, QLinear, QShortcut};
use core::arch::x86_64::*;
use core::ops::Range;

/// Pixels per register tile (with two channel tiles: 16 accumulators).
const MR: usize = 8;

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
fn pack32(a: __m512i, b: __m512i, clamp: (u8, u8)) -> __m256i {
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
            let tiles = left.div_ceil(MR);
            if two && !left.is_multiple_of(MR) && left >= (MR - 1) * tiles {
                for _ in 0..MR * tiles - left {
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

/// The lanes of `len` (at most 16) channels.
#[inline(always)]
fn lanes(len: usize) -> __mmask16 {
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
                // Every fourth round the other form even where the narrow one would do.
                let rq = Requant16::new(0, 0xffff, &q, residual.then_some(&m_res[..]), round % 4 != 2);
                let res = residual.then(|| _mm512_loadu_si512(r.as_ptr().cast()));
                let acc = _mm512_loadu_si512(acc.as_ptr().cast());
                let (even, odd) = rq.products(acc, res);
                let u = if rq.narrow { rq.narrow_of(even, odd) } else { rq.wide_of(even, odd) };
                (
                    core::mem::transmute::<__m512i, [i32; 16]>(u),
                    core::mem::transmute::<__m256i, [u8; 32]>(pack32(u, u, clamp)),
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
                assert_eq!(packed[16 + l], want, "packed lane {l} (second half)");
            }
        }
    }
}
