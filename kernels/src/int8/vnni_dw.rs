//! The VNNI depthwise (`dw_band`): `conv::dw_row` for a run of output rows, 64 channels per
//! load, one group of 64 channels at a time, set up once for the run.
//!
//! `vpdpbusd` sums four byte products per lane, so the levels go in as quads: one input
//! column's levels from up to four input rows, interleaved per channel (byte and word unpacks,
//! `quads`). One such column quad feeds a `vpdpbusd` per 16 channels with that column's tap of
//! each of the three tap rows, for each of the (at stride 1) three output pixels that read the
//! column, so every column is interleaved once per output row, not once per output pixel:
//!
//! - At stride 1 the fourth row of the quad is the input row below, and two output rows run
//!   together: the upper one against taps in slots 0..3, the lower one against taps in slots
//!   1..4.
//! - At stride 2 an output pixel reads two new columns and the last column of the one before.
//! - 32 channels at stride 1 (v2's first block) load two pixels per vector, so a column quad
//!   holds two columns and the output pixels go in pairs.
//! - A last group of at most 32 (16) channels (v2's 96 and 144) runs two (four) output pixels
//!   per vector, each pixel's columns loaded into its own part (`vnni_dw_tail`), so the group's
//!   vectors are not mostly empty; tap columns 1 and 2 reuse column 0's quads shifted by whole
//!   pixels where the stride lets them.
//!
//! Absent rows (padding) read a row of zero-point levels, columns outside the row read the zero
//! point too, and the bias is `bias - zero_point * sum(w)` over all nine taps, so the levels
//! enter `vpdpbusd` as they are. The per-channel arrays are packed in the unpacks' lane order
//! (`super::dw_lane`), which the saturating packs of `dw_store` undo.

use super::dw_cols::{row_passes, Src, Taps};
use super::isa::DwShape;
use super::vnni_dw_tail::tail_pass;
use super::vnni_requant::{spread, Requant16};
use super::QConv;
use core::arch::x86_64::*;

/// Four vectors of 64 channels' levels (or taps) as four vectors of 16 channels' quads: vector
/// `q`'s lane `i` of 128-bit lane `L` holds the four bytes of channel `16L + 4q + i`, in the
/// order `a, b, c, d`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn quads(a: __m512i, b: __m512i, c: __m512i, d: __m512i) -> [__m512i; 4] {
    let (ab_lo, ab_hi) = (_mm512_unpacklo_epi8(a, b), _mm512_unpackhi_epi8(a, b));
    let (cd_lo, cd_hi) = (_mm512_unpacklo_epi8(c, d), _mm512_unpackhi_epi8(c, d));
    [
        _mm512_unpacklo_epi16(ab_lo, cd_lo),
        _mm512_unpackhi_epi16(ab_lo, cd_lo),
        _mm512_unpacklo_epi16(ab_hi, cd_hi),
        _mm512_unpackhi_epi16(ab_hi, cd_hi),
    ]
}

/// The layer and group constants every pass over a row (or row pair) of a group uses.
pub(super) struct Group<'a> {
    pub(super) w_in: isize,
    pub(super) wo: usize,
    pub(super) pad_l: isize,
    /// The group's channels (`TWIN`: both pixels' halves).
    pub(super) bytes: __mmask64,
    pub(super) zv: __m512i,
    pub(super) taps: &'a Taps<__m512i>,
    pub(super) init: [__m512i; 4],
    pub(super) rq: &'a [Requant16; 4],
    pub(super) clamp: (u8, u8),
}

/// `conv::dw_row` for each row triple of `rows` (output row `r` at `out[r * wo * c..]`): the
/// same operands and results. Rows at stride 1 whose triples overlap by two rows (as a band's
/// consecutive rows do) run in pairs.
///
/// # Safety
/// The CPU has AVX-512F, BW, VL and VNNI; operands as `conv::dw_row` for each row, the
/// per-channel arrays padded to whole groups of 64.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn dw_band<S: DwShape>(rows: &[[Option<&[u8]>; 3]], s: S, q: &QConv, out: &mut [u8]) {
    let (w_in, c, taps, stride, pad_l) = (s.w_in(), s.c(), s.taps(), s.stride(), s.pad_l());
    assert!(taps >= c && q.weight.len() >= 8 * taps + c, "internal error: depthwise weights");
    let row_len = out.len() / rows.len().max(1);
    let wo = row_len / c;
    assert!(rows.len() * wo * c <= out.len(), "internal error: depthwise band");
    assert!(pad_l <= 2 && w_in > 0, "internal error: depthwise padding");
    let zrow = Align64([q.input_zero as u8; 64]);
    let twin = c == 32 && stride == 1;
    // SAFETY: loads stay inside a present row (pixels `0..w_in`, bytes `c0..c0 + len` of a
    // pixel; `dw_rows` checked each row) or `zrow`, or are masked off; the weights (`9 * c`)
    // and the padded per-channel arrays; stores inside output row `r` of `out` (`wo * c`),
    // bytes past `c` (or past the row, for a twin pair's missing second pixel) masked.
    unsafe {
        let zv = _mm512_set1_epi8(q.input_zero as u8 as i8);
        let zero = _mm512_setzero_si512();
        let w = q.weight.as_ptr();
        let mut c0 = 0;
        while c0 < c {
            let len = (c - c0).min(64);
            let channels: __mmask64 = if len == 64 { !0 } else { (1u64 << len) - 1 };
            // Output pixels per vector: twin pairs (both pixels' columns in one load), or a
            // last group of at most 16 (32) channels, four (two) pixels each in a 128-bit
            // (256-bit) part; their constants repeated in each part.
            let parts = if twin || (17..=32).contains(&len) {
                2
            } else if len <= 16 {
                4
            } else {
                1
            };
            let bytes = if twin { !0 } else { channels };
            let mut t = [zero; 9];
            for (i, v) in t.iter_mut().enumerate() {
                *v = spread(_mm512_maskz_loadu_epi8(channels, w.add(i * taps + c0).cast()), parts);
            }
            let mut taps = Taps { upper: [[zero; 4]; 3], lower: [[zero; 4]; 3] };
            for kx in 0..3 {
                taps.upper[kx] = quads(t[kx], t[3 + kx], t[6 + kx], zero);
                taps.lower[kx] = quads(zero, t[kx], t[3 + kx], t[6 + kx]);
            }
            // Loops, not `from_fn`: a closure would call the `target_feature` functions out of line.
            let mut init = [zero; 4];
            for (j, v) in init.iter_mut().enumerate() {
                let b = spread(_mm512_loadu_si512(q.bias.as_ptr().add(c0 + 16 * j).cast()), parts);
                let mut corr = zero;
                for tq in &taps.upper {
                    corr = _mm512_dpbusd_epi32(corr, zv, tq[j]);
                }
                *v = _mm512_sub_epi32(b, corr);
            }
            // All four in one form (`dw_store` picks it once for all): the narrow one where
            // every shift of the group allows it (padding lanes' always do).
            let narrow = q.shift[c0..c0 + 64].iter().fold(true, |ok, s| ok & (33..=54).contains(s));
            // A loop, not `map`: a closure would build each out of line, through memory.
            let mut rq = [Requant16::new(c0, 0xffff, q, None, narrow).spread(parts); 4];
            for (j, r) in rq.iter_mut().enumerate().skip(1) {
                *r = Requant16::new(c0 + 16 * j, 0xffff, q, None, narrow).spread(parts);
            }
            let g = Group {
                w_in: w_in as isize,
                wo,
                pad_l: pad_l as isize,
                bytes,
                zv,
                taps: &taps,
                init,
                rq: &rq,
                clamp: q.clamp,
            };
            row_passes(rows, w_in, c, c0, stride, q, zrow.0.as_ptr(), |r, s, pair| {
                let o0 = out.as_mut_ptr().add(r * wo * c + c0);
                let o1 = o0.add(wo * c);
                macro_rules! pass {
                    ($adv2:literal, $pair:literal, $twin:literal) => {
                        if narrow {
                            row_pass::<$adv2, $pair, true, $twin>(&g, s, o0, o1, c)
                        } else {
                            row_pass::<$adv2, $pair, false, $twin>(&g, s, o0, o1, c)
                        }
                    };
                }
                macro_rules! tail {
                    ($parts:literal, $s2:literal, $pair:literal) => {
                        if narrow {
                            tail_pass::<$parts, $s2, $pair, true>(&g, s, o0, o1, c, len)
                        } else {
                            tail_pass::<$parts, $s2, $pair, false>(&g, s, o0, o1, c, len)
                        }
                    };
                }
                match (stride, twin, parts, pair) {
                    (1, true, _, false) => pass!(true, false, true),
                    (1, true, _, true) => pass!(true, true, true),
                    (1, _, 1, false) => pass!(false, false, false),
                    (1, _, 1, true) => pass!(false, true, false),
                    (1, _, 2, false) => tail!(2, false, false),
                    (1, _, 2, true) => tail!(2, false, true),
                    (1, _, _, false) => tail!(4, false, false),
                    (1, _, _, true) => tail!(4, false, true),
                    (_, _, 1, _) => pass!(true, false, false),
                    (_, _, 2, _) => tail!(2, true, false),
                    _ => tail!(4, true, false),
                }
            });
            c0 += 64;
        }
    }
}

/// 64 bytes, 64-byte aligned.
#[repr(C, align(64))]
struct Align64([u8; 64]);

/// One output row (`PAIR`: two, the second at `o1`) of one group, pixel by pixel. Without
/// `ADV2` (stride 1) each pixel reads one new column, with it two: stride 2, or (`TWIN`) a
/// pixel pair whose columns hold two pixels each.
///
/// # Safety
/// As `dw_band`: `s` reads rows of `g.w_in` pixels (`c` bytes apart, or `32` with `TWIN`)
/// or a row of zero points; `o0` (and `o1`) hold the row's `g.wo` pixels `c` bytes apart.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn row_pass<const ADV2: bool, const PAIR: bool, const NARROW: bool, const TWIN: bool>(
    g: &Group,
    s: &Src,
    o0: *mut u8,
    o1: *mut u8,
    c: usize,
) {
    // SAFETY: the caller's contract.
    unsafe {
        if ADV2 {
            let steps = if TWIN { g.wo.div_ceil(2) } else { g.wo };
            let mut w0 = col::<TWIN>(g, s, -g.pad_l);
            for k in 0..steps {
                let ix0 = 2 * k as isize - g.pad_l;
                let w1 = col::<TWIN>(g, s, ix0 + 1);
                let w2 = col::<TWIN>(g, s, ix0 + 2);
                let (dst, bytes) = if TWIN {
                    (2 * k * 32, if 2 * k + 1 < g.wo { !0 } else { (1u64 << 32) - 1 })
                } else {
                    (k * c, g.bytes)
                };
                finish::<PAIR, NARROW>(g, [&w0, &w1, &w2], o0.add(dst), o1.add(dst), bytes);
                w0 = w2;
            }
        } else {
            let (mut w0, mut w1) = (col::<TWIN>(g, s, -g.pad_l), col::<TWIN>(g, s, 1 - g.pad_l));
            for ox in 0..g.wo {
                let w2 = col::<TWIN>(g, s, ox as isize + 2 - g.pad_l);
                finish::<PAIR, NARROW>(g, [&w0, &w1, &w2], o0.add(ox * c), o1.add(ox * c), g.bytes);
                w0 = w1;
                w1 = w2;
            }
        }
    }
}

/// The column quad of pixel `ix` (with `TWIN`, of pixels `ix` and `ix + 1`); pixels outside
/// the row read the zero point.
///
/// # Safety
/// As `row_pass`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn col<const TWIN: bool>(g: &Group, s: &Src, ix: isize) -> [__m512i; 4] {
    // The last pixel a column's load covers.
    let last = if TWIN { ix + 1 } else { ix };
    // SAFETY: the caller's contract; the plain path's pixels lie inside the row.
    unsafe {
        if ix >= 0 && last < g.w_in {
            column(s, ix, g.bytes)
        } else {
            column_edge::<TWIN>(s, ix, g.w_in, g.bytes, g.zv)
        }
    }
}

/// One output pixel (two with `PAIR`) from its three column quads: accumulate and store.
///
/// # Safety
/// As `row_pass`, for the pixel's bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn finish<const PAIR: bool, const NARROW: bool>(
    g: &Group,
    w: [&[__m512i; 4]; 3],
    o0: *mut u8,
    o1: *mut u8,
    bytes: __mmask64,
) {
    let (a, b) = sums::<PAIR>(g, w);
    // SAFETY: the caller's contract.
    unsafe {
        dw_store::<NARROW>(&a, g.rq, g.clamp, o0, bytes);
        if PAIR {
            dw_store::<NARROW>(&b, g.rq, g.clamp, o1, bytes);
        }
    }
}

/// The accumulators of an output pixel (with `PAIR`, and of the one below) from its three
/// column quads.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn sums<const PAIR: bool>(g: &Group, w: [&[__m512i; 4]; 3]) -> ([__m512i; 4], [__m512i; 4]) {
    let (mut a, mut b) = (g.init, g.init);
    for j in 0..4 {
        for (kx, col) in w.iter().enumerate() {
            a[j] = _mm512_dpbusd_epi32(a[j], col[j], g.taps.upper[kx][j]);
            if PAIR {
                b[j] = _mm512_dpbusd_epi32(b[j], col[j], g.taps.lower[kx][j]);
            }
        }
    }
    (a, b)
}

/// The column quad of pixel `ix` (with `TWIN`, of pixels `ix` and `ix + 1`), every pixel
/// inside the row.
///
/// # Safety
/// The CPU has the features; `s` reads those pixels' bytes in `bytes`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn column(s: &Src, ix: isize, bytes: __mmask64) -> [__m512i; 4] {
    let mut x = [_mm512_setzero_si512(); 4];
    for (i, v) in x.iter_mut().enumerate() {
        // SAFETY: the caller's contract.
        *v = unsafe {
            let at = s.ptr[i].offset(ix * s.step[i]);
            if bytes == !0 {
                _mm512_loadu_si512(at.cast())
            } else {
                _mm512_maskz_loadu_epi8(bytes, at.cast())
            }
        };
    }
    quads(x[0], x[1], x[2], x[3])
}

/// `column` where some of its pixels lie outside the row: those read the zero point.
///
/// # Safety
/// The CPU has the features; `s` reads the bytes in `bytes` of the pixels inside `0..w_in`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn column_edge<const TWIN: bool>(
    s: &Src,
    ix: isize,
    w_in: isize,
    bytes: __mmask64,
    zv: __m512i,
) -> [__m512i; 4] {
    let inside = |i: isize| (0..w_in).contains(&i);
    let mask = if TWIN {
        (if inside(ix) { 0xffff_ffff } else { 0 }) | (if inside(ix + 1) { 0xffff_ffff << 32 } else { 0 })
    } else if inside(ix) {
        bytes
    } else {
        0
    };
    let mut x = [zv; 4];
    for (i, v) in x.iter_mut().enumerate() {
        // SAFETY: the bytes loaded lie in pixels inside the row (the caller's contract); the
        // masked-off ones are not read, wherever the wrapped pointer points.
        *v = unsafe { _mm512_mask_loadu_epi8(zv, mask, s.ptr[i].wrapping_offset(ix * s.step[i]).cast()) };
    }
    quads(x[0], x[1], x[2], x[3])
}

/// Requantizes one output pixel's four accumulators (channel `16L + 4q + i` in lane `i` of
/// 128-bit lane `L` of `acc[q]`) and stores its 64 (masked to `bytes`) levels.
///
/// # Safety
/// The CPU has the features; `dst` is valid for the bytes in `bytes`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dw_store<const NARROW: bool>(
    acc: &[__m512i; 4],
    rq: &[Requant16; 4],
    clamp: (u8, u8),
    dst: *mut u8,
    bytes: __mmask64,
) {
    let v = dw_levels::<NARROW>(acc, rq, clamp);
    // SAFETY: the caller's contract.
    unsafe {
        // Masked stores cost more than plain ones on some cores (AMD Zen).
        if bytes == !0 {
            _mm512_storeu_si512(dst.cast(), v)
        } else {
            _mm512_mask_storeu_epi8(dst.cast(), bytes, v)
        }
    }
}

/// The 64 levels of four accumulators (laid out as `dw_store`'s), in channel order: the
/// saturating packs (exact for the clamp, as in `vnni::pack32`) undo the quads' order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn dw_levels<const NARROW: bool>(acc: &[__m512i; 4], rq: &[Requant16; 4], clamp: (u8, u8)) -> __m512i {
    let mut y = [_mm512_setzero_si512(); 4];
    for j in 0..4 {
        let (even, odd) = rq[j].products(acc[j], None);
        // `NARROW` for every vector: one test per row, not one per vector.
        y[j] = if NARROW { rq[j].narrow_of(even, odd) } else { rq[j].wide_of(even, odd) };
    }
    let mut v = _mm512_packus_epi16(_mm512_packs_epi32(y[0], y[1]), _mm512_packs_epi32(y[2], y[3]));
    // The packs clamp to 0..=255 already (every layer of a model whose ReLU6 ranges end at 6).
    if clamp.0 > 0 {
        v = _mm512_max_epu8(v, _mm512_set1_epi8(clamp.0 as i8));
    }
    if clamp.1 < 255 {
        v = _mm512_min_epu8(v, _mm512_set1_epi8(clamp.1 as i8));
    }
    v
}
