//! The AVX-VNNI depthwise (`dw_band`): the VNNI one's column quads (`vnni_dw`) at half width,
//! 32 channels per load. One input column's levels from the tap rows are interleaved per
//! channel (byte and word unpacks, `quads`), so one `vpdpbusd` does a column's three taps for 8
//! channels; each column is interleaved once per output row and feeds the three output pixels
//! that read it. At stride 1 the quad's fourth byte holds the row below and two output rows run
//! together (the lower one against the taps shifted by a byte); at stride 2 an output pixel
//! reads two new columns and the last one of the pixel before. Absent rows read a row of
//! zero-point levels and columns outside the row the zero point, so one bias correction serves
//! every pixel. The unpacks work in 128-bit lanes, so a 64-channel group's packed per-channel
//! arrays (`dw_lane`) hold each vector's 8 lanes of a 32-channel half contiguously.

use super::avx2_requant::{store_bytes, Requant8};
use super::dw_cols::{row_passes, Src, Taps};
use super::isa::DwShape;
use super::QConv;
use core::arch::x86_64::*;

/// The layer and group constants every pass over a row (or row pair) of a group uses.
struct Group<'a> {
    w_in: isize,
    wo: usize,
    pad_l: isize,
    /// The group's channels (at most 32).
    len: usize,
    zv: __m256i,
    taps: &'a Taps<__m256i>,
    init: [__m256i; 4],
    rq: &'a [Requant8; 4],
    clamp: (u8, u8),
}

/// 32 bytes, 32-byte aligned.
#[repr(C, align(32))]
struct Align32([u8; 32]);

/// `conv::dw_row` for each row triple of `rows` (output row `r` at `out[r * wo * c..]`): the
/// same operands and results. Rows at stride 1 whose triples overlap by two rows (as a band's
/// consecutive rows do) run in pairs.
///
/// # Safety
/// The CPU has AVX2, FMA and AVX-VNNI; operands as `conv::dw_row` for each row, the
/// per-channel arrays padded to whole groups of 64.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(crate) unsafe fn dw_band<S: DwShape>(rows: &[[Option<&[u8]>; 3]], s: S, q: &QConv, out: &mut [u8]) {
    let (w_in, c, taps, stride, pad_l) = (s.w_in(), s.c(), s.taps(), s.stride(), s.pad_l());
    assert!(taps >= c && q.weight.len() >= 8 * taps + c, "internal error: depthwise weights");
    let wo = out.len() / rows.len().max(1) / c;
    assert!(rows.len() * wo * c <= out.len(), "internal error: depthwise band");
    assert!(pad_l <= 2 && w_in > 0, "internal error: depthwise padding");
    let zrow = Align32([q.input_zero as u8; 32]);
    // SAFETY: loads read `len` bytes of a present row's pixel (`0 <= ix < w_in`; `dw_rows`
    // checked each row), of `zrow` or of the weights (`9 * c`), and the padded per-channel
    // arrays; stores stay inside output row `r` (and the one below, for a pair) of `out`.
    unsafe {
        let zv = _mm256_set1_epi8(q.input_zero as u8 as i8);
        let zero = _mm256_setzero_si256();
        let mut c0 = 0;
        while c0 < c {
            let len = (c - c0).min(32);
            let mut t = [zero; 9];
            for (i, v) in t.iter_mut().enumerate() {
                *v = load32(q.weight.as_ptr().add(i * taps + c0).cast(), len);
            }
            let mut taps = Taps { upper: [[zero; 4]; 3], lower: [[zero; 4]; 3] };
            for kx in 0..3 {
                taps.upper[kx] = quads(t[kx], t[3 + kx], t[6 + kx], zero);
                taps.lower[kx] = quads(zero, t[kx], t[3 + kx], t[6 + kx]);
            }
            // Vector j's lanes in the packed arrays (`dw_lane`): 8 from here, for the 32-channel
            // half of a group of 64 that `c0` starts.
            let lane0 = c0 / 64 * 64 + c0 % 64 / 32 * 8;
            // Loops, not `map`: a closure would build them out of line, through memory.
            let (mut init, mut rq) = ([zero; 4], [requant(q, lane0); 4]);
            for j in 0..4 {
                let at = lane0 + 16 * j;
                if j > 0 {
                    rq[j] = requant(q, at);
                }
                let mut corr = zero;
                for tq in &taps.upper {
                    corr = _mm256_dpbusd_avx_epi32(corr, zv, tq[j]);
                }
                init[j] = _mm256_sub_epi32(_mm256_loadu_si256(q.bias.as_ptr().add(at).cast()), corr);
            }
            let g = Group {
                w_in: w_in as isize,
                wo,
                pad_l: pad_l as isize,
                len,
                zv,
                taps: &taps,
                init,
                rq: &rq,
                clamp: q.clamp,
            };
            row_passes(rows, w_in, c, c0, stride, q, zrow.0.as_ptr(), |r, s, pair| {
                let o0 = out.as_mut_ptr().add(r * wo * c + c0);
                let o1 = o0.add(wo * c);
                match (stride, pair) {
                    (1, false) => row_pass::<false, false>(&g, s, o0, o1, c),
                    (1, true) => row_pass::<false, true>(&g, s, o0, o1, c),
                    _ => row_pass::<true, false>(&g, s, o0, o1, c),
                }
            });
            c0 += 32;
        }
    }
}

/// The `Requant8` of the 8 lanes of the packed per-channel arrays from `at`.
///
/// # Safety
/// The CPU has the features; the arrays hold those lanes.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn requant(q: &QConv, at: usize) -> Requant8 {
    // SAFETY: the caller's contract.
    let (m, shift) = unsafe {
        (_mm256_loadu_si256(q.m.as_ptr().add(at).cast()), _mm256_loadu_si256(q.shift.as_ptr().add(at).cast()))
    };
    Requant8::of(m, _mm256_setzero_si256(), shift, q)
}

/// One output row (`PAIR`: two, the second at `o1`) of one group, pixel by pixel: each pixel
/// reads one new column (stride 1) or, with `S2`, two.
///
/// # Safety
/// As `dw_band`: `s` reads rows of `g.w_in` pixels `c` bytes apart (or a row of zero points);
/// `o0` (and `o1`) hold the row's `g.wo` pixels `c` bytes apart.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn row_pass<const S2: bool, const PAIR: bool>(g: &Group, s: &Src, o0: *mut u8, o1: *mut u8, c: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        if S2 {
            let mut w0 = col(g, s, -g.pad_l);
            for ox in 0..g.wo {
                let ix0 = 2 * ox as isize - g.pad_l;
                let w1 = col(g, s, ix0 + 1);
                let w2 = col(g, s, ix0 + 2);
                finish::<PAIR>(g, [&w0, &w1, &w2], o0.add(ox * c), o1.add(ox * c));
                w0 = w2;
            }
        } else {
            let (mut w0, mut w1) = (col(g, s, -g.pad_l), col(g, s, 1 - g.pad_l));
            for ox in 0..g.wo {
                let w2 = col(g, s, ox as isize + 2 - g.pad_l);
                finish::<PAIR>(g, [&w0, &w1, &w2], o0.add(ox * c), o1.add(ox * c));
                w0 = w1;
                w1 = w2;
            }
        }
    }
}

/// The column quad of pixel `ix`; a pixel outside the row reads the zero point.
///
/// # Safety
/// As `row_pass`.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn col(g: &Group, s: &Src, ix: isize) -> [__m256i; 4] {
    if !(0..g.w_in).contains(&ix) {
        return [g.zv; 4];
    }
    let mut x = [g.zv; 4];
    for (i, v) in x.iter_mut().enumerate() {
        // SAFETY: a pixel inside the row, `len` bytes of it (the caller's contract).
        *v = unsafe { load32(s.ptr[i].offset(ix * s.step[i]), g.len) };
    }
    quads(x[0], x[1], x[2], x[3])
}

/// One output pixel (two with `PAIR`) from its three column quads: accumulate and store.
///
/// # Safety
/// As `row_pass`, for the pixel's bytes.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn finish<const PAIR: bool>(g: &Group, w: [&[__m256i; 4]; 3], o0: *mut u8, o1: *mut u8) {
    let (mut a, mut b) = (g.init, g.init);
    for j in 0..4 {
        for (kx, col) in w.iter().enumerate() {
            a[j] = _mm256_dpbusd_avx_epi32(a[j], col[j], g.taps.upper[kx][j]);
            if PAIR {
                b[j] = _mm256_dpbusd_avx_epi32(b[j], col[j], g.taps.lower[kx][j]);
            }
        }
    }
    // SAFETY: the caller's contract.
    unsafe {
        dw_store(&a, g.rq, g.clamp, o0, g.len);
        if PAIR {
            dw_store(&b, g.rq, g.clamp, o1, g.len);
        }
    }
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

/// Four vectors of 32 channels' levels (or taps) as four vectors of 8 channels' quads: vector
/// `q`'s lane `i` of 128-bit lane `L` holds the four bytes of channel `16L + 4q + i`, in the
/// order `a, b, c, d` (as `vnni_dw::quads`).
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
