//! AVX-VNNI int8 kernels: `vpdpbusd` on 256-bit vectors, for x86 CPUs that have it without
//! AVX-512 (4 unsigned activation bytes times 4 signed weight bytes added to 8 i32 lanes,
//! exactly). The 1x1 loop, the classifier, the requantization (`Requant8`) and the byte packs
//! are the AVX2 kernels' (`avx2`); only the dot products differ.
//!
//! - 1x1 convolutions (and the stem, on its patches, and the classifier): each group of 4
//!   inputs of a packed tile (16 channels x 4 inputs) is two vectors as it lies in memory, the
//!   pixel's 4 levels broadcast; 6 pixels x 16 channels per register tile (12 accumulators), the sums already in
//!   channel order.
//! - Depthwise: the VNNI kernel's lane-strided scheme at half width: 32 channels per load
//!   feed four accumulators, accumulator `j` taking channel `4i + j` in lane `i` (its weight
//!   vector keeps only those bytes). A 64-channel group's packed per-channel arrays (`dw_lane`)
//!   hold each accumulator's 16 lanes contiguously, so the 32-channel half `h` reads lanes
//!   `8h..8h + 8` of each.

use super::avx2::{linear_with, pointwise_with, store_bytes, Dot8, Requant8};
use super::conv::group;
use super::{dw_lane, QConv, QLinear, QShortcut};
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

/// `conv::quantize`: the AVX2 kernel's.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(crate) unsafe fn quantize(x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]) {
    // SAFETY: the caller's contract.
    unsafe { super::avx2::quantize(x, inverse_scale, zero_point, out) }
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

/// `conv::dw_row` on 32 channels at a time: the same operands and results. Padding reads the
/// input's zero point; the bias is `bias - zero_point * sum(w)` over the taps of the rows
/// present, so the levels enter `vpdpbusd` as they are.
///
/// # Safety
/// The CPU has AVX2, FMA and AVX-VNNI; operands as `conv::dw_row`, the per-channel arrays
/// padded to whole groups of 64.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
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
    let cp = c.next_multiple_of(64);
    assert!(q.weight.len() >= 9 * c && q.bias.len() >= cp && q.m.len() >= cp && q.shift.len() >= cp);
    assert!(rows.iter().flatten().all(|r| r.len() >= w_in * c), "internal error: depthwise rows");
    let present = rows.map(|r| r.is_some());
    // Absent rows: null, never read.
    let base = rows.map(|r| r.map_or(core::ptr::null(), <[u8]>::as_ptr));
    // SAFETY: loads read `len` bytes of a present row's pixel (`0 <= ix < w_in`) or of the
    // weights (`9 * c`), and the padded per-channel arrays; stores stay inside `out`.
    unsafe {
        let zv = _mm256_set1_epi8(q.input_zero as u8 as i8);
        let mut c0 = 0;
        while c0 < c {
            let len = (c - c0).min(32);
            let mut wj = [[_mm256_setzero_si256(); 4]; 9];
            for (t, wt) in wj.iter_mut().enumerate() {
                let v = load32(q.weight.as_ptr().add(t * c + c0).cast(), len);
                for (j, wtj) in wt.iter_mut().enumerate() {
                    *wtj = _mm256_and_si256(v, _mm256_set1_epi32(0xff << (8 * j)));
                }
            }
            // Accumulator j's lanes in the packed arrays: `dw_lane(c0 + 4i + j)` for i in 0..8.
            let idx = [0, 1, 2, 3].map(|j| {
                let lanes: [i32; 8] = core::array::from_fn(|i| dw_lane(c0 + 4 * i + j) as i32);
                _mm256_loadu_si256(lanes.as_ptr().cast())
            });
            let rq = [0, 1, 2, 3].map(|j| {
                let m = _mm256_i32gather_epi32::<4>(q.m.as_ptr(), idx[j]);
                let shift = _mm256_i32gather_epi32::<4>(q.shift.as_ptr(), idx[j]);
                Requant8::of(m, _mm256_setzero_si256(), shift, q)
            });
            let mut init = [_mm256_setzero_si256(); 4];
            for (j, v) in init.iter_mut().enumerate() {
                *v = _mm256_i32gather_epi32::<4>(q.bias.as_ptr(), idx[j]);
                for (t, w) in wj.iter().enumerate() {
                    if present[t / 3] {
                        *v = _mm256_sub_epi32(*v, _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), zv, w[j]));
                    }
                }
            }
            let all_rows = present == [true; 3];
            for ox in 0..wo {
                let ix0 = (ox * stride) as isize - pad_l as isize;
                let mut acc = init;
                // Inner pixels of inner rows (nearly all) take the branch-free form.
                if all_rows && ix0 >= 0 && ix0 + 3 <= w_in as isize && len == 32 {
                    dw_taps::<true>(&mut acc, &base, ix0, w_in, c, c0, len, zv, &wj);
                } else {
                    dw_taps::<false>(&mut acc, &base, ix0, w_in, c, c0, len, zv, &wj);
                }
                let mut y = [_mm256_setzero_si256(); 4];
                for j in 0..4 {
                    y[j] = rq[j].unclamped(acc[j], None);
                }
                let v = dw_pack(y, q.clamp);
                let dst = out.as_mut_ptr().add(ox * c + c0);
                store_bytes(dst, _mm256_castsi256_si128(v), len);
                if len > 16 {
                    store_bytes(dst.add(16), _mm256_extracti128_si256::<1>(v), len - 16);
                }
            }
            c0 += 32;
        }
    }
}

/// Four vectors of `Requant8::unclamped` values, lane `i` of `y[j]` channel `4i + j`, as 32
/// levels in channel order clamped to `clamp`: saturating packs leave 128-bit lane `L` holding
/// `y[j][4L..4L + 4]` in bytes `4j..4j + 4`, and a byte shuffle transposes each lane's 4x4
/// bytes (as `vnni::dw_pack`).
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
fn dw_pack(y: [__m256i; 4], clamp: (u8, u8)) -> __m256i {
    let bytes = _mm256_packus_epi16(_mm256_packs_epi32(y[0], y[1]), _mm256_packs_epi32(y[2], y[3]));
    // Per 128-bit lane: out[4i + j] = in[4j + i].
    let transpose = _mm256_setr_epi32(
        0x0c08_0400,
        0x0d09_0501,
        0x0e0a_0602,
        0x0f0b_0703,
        0x0c08_0400,
        0x0d09_0501,
        0x0e0a_0602,
        0x0f0b_0703,
    );
    let v = _mm256_shuffle_epi8(bytes, transpose);
    _mm256_min_epu8(_mm256_max_epu8(v, _mm256_set1_epi8(clamp.0 as i8)), _mm256_set1_epi8(clamp.1 as i8))
}

/// The taps of one depthwise output pixel (input columns from `ix0`) into `acc`: absent rows
/// (null in `base`) contribute nothing (the bias is corrected for them), columns outside
/// `0..w_in` read the zero point (`FULL`: every row present, every column inside and `len ==
/// 32`, unchecked).
///
/// # Safety
/// The CPU has the features; present rows hold `w_in` pixels of `c` levels, `len` of them
/// from `c0`; with `FULL`, as said.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn dw_taps<const FULL: bool>(
    acc: &mut [__m256i; 4],
    base: &[*const u8; 3],
    ix0: isize,
    w_in: usize,
    c: usize,
    c0: usize,
    len: usize,
    zv: __m256i,
    wj: &[[__m256i; 4]; 9],
) {
    for (ky, &row) in base.iter().enumerate() {
        if !FULL && row.is_null() {
            continue;
        }
        for kx in 0..3 {
            let ix = ix0 + kx as isize;
            let xv = if FULL {
                // SAFETY: a present row, a column inside it, 32 channels (the caller's contract).
                unsafe { _mm256_loadu_si256(row.add(ix as usize * c + c0).cast()) }
            } else if (0..w_in as isize).contains(&ix) {
                // SAFETY: a present row, a column inside it, `len` channels from `c0` (the
                // bytes past `len` are zero and meet zero weights).
                unsafe { load32(row.add(ix as usize * c + c0), len) }
            } else {
                zv
            };
            for (j, a) in acc.iter_mut().enumerate() {
                *a = _mm256_dpbusd_avx_epi32(*a, xv, wj[ky * 3 + kx][j]);
            }
        }
    }
}
