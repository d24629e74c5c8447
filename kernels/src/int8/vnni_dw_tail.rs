//! The VNNI depthwise's last group of at most 32 (16) channels (`vnni_dw`): two (four) output
//! pixels per vector, each pixel's columns loaded into its own part of the column quads, so the
//! group's vectors are not mostly empty.

use super::dw_cols::Src;
use super::vnni_dw::{dw_levels, quads, sums, Group};
use core::arch::x86_64::*;

/// One output row (`PAIR`: two, the second at `o1`) of a group of at most `64 / P` channels
/// (`len`), `P` output pixels per vector, each in its own `512 / P`-bit part (stride 2 with
/// `S2`). A step's column quads for tap column 0 hold its pixels' first columns; at stride 1
/// those of tap columns 1 and 2 are them shifted by one and two pixels, spliced with the next
/// step's; at stride 2 tap column 2's are shifted by one pixel and tap column 1's are loaded.
///
/// # Safety
/// As `row_pass`: `s` reads rows of `g.w_in` pixels `c` bytes apart (or a row of zero
/// points), `len` bytes of each.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn tail_pass<const P: usize, const S2: bool, const PAIR: bool, const NARROW: bool>(
    g: &Group,
    s: &Src,
    o0: *mut u8,
    o1: *mut u8,
    c: usize,
    len: usize,
) {
    let stride: isize = if S2 { 2 } else { 1 };
    let first = |k: usize| (k * P) as isize * stride - g.pad_l;
    // SAFETY: the caller's contract; stores write `len` bytes of output pixels below `g.wo`.
    unsafe {
        let mut cur = tail_col::<P>(g, s, first(0), stride, len);
        for k in 0..g.wo.div_ceil(P) {
            let next = tail_col::<P>(g, s, first(k + 1), stride, len);
            let (w1, w2) = if S2 {
                (tail_col::<P>(g, s, first(k) + 1, stride, len), shifted::<P>(&cur, &next, 1))
            } else {
                (shifted::<P>(&cur, &next, 1), shifted::<P>(&cur, &next, 2))
            };
            let (a, b) = sums::<PAIR>(g, [&cur, &w1, &w2]);
            let count = P.min(g.wo - k * P);
            let at = k * P * c;
            store_parts::<P>(dw_levels::<NARROW>(&a, g.rq, g.clamp), o0.add(at), c, len, count);
            if PAIR {
                store_parts::<P>(dw_levels::<NARROW>(&b, g.rq, g.clamp), o1.add(at), c, len, count);
            }
            cur = next;
        }
    }
}

/// `cur`'s column quads shifted down by `n` (1 or 2) of their `P` pixels, `next`'s first
/// pixels shifting in.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn shifted<const P: usize>(cur: &[__m512i; 4], next: &[__m512i; 4], n: usize) -> [__m512i; 4] {
    let mut w = *next;
    for (v, &c) in w.iter_mut().zip(cur) {
        // One pixel is `8 / P` 64-bit lanes; two of two pixels are all of `next`.
        *v = match (P, n) {
            (4, 1) => _mm512_alignr_epi64::<2>(*v, c),
            (4, _) | (_, 1) => _mm512_alignr_epi64::<4>(*v, c),
            _ => *v,
        };
    }
    w
}

/// The column quads of `P` pixels, `stride` apart from `ix0`, each `len` bytes in its own
/// `512 / P`-bit part; pixels outside the row read the zero point.
///
/// # Safety
/// As `tail_pass`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tail_col<const P: usize>(g: &Group, s: &Src, ix0: isize, stride: isize, len: usize) -> [__m512i; 4] {
    let mut x = [g.zv; 4];
    for (i, v) in x.iter_mut().enumerate() {
        // Pixel `p`'s address, and its bytes' mask (none outside the row).
        let at = |p: isize| {
            let ix = ix0 + p * stride;
            let inside = (0..g.w_in).contains(&ix);
            (s.ptr[i].wrapping_offset(ix * s.step[i]).cast(), if inside { (1u64 << len) - 1 } else { 0 })
        };
        let [(a0, m0), (a1, m1)] = [at(0), at(1)];
        // SAFETY: the bytes loaded lie in pixels inside the row (the caller's contract); the
        // masked-off ones are not read, wherever the wrapped pointer points.
        unsafe {
            if P == 4 {
                let [(a2, m2), (a3, m3)] = [at(2), at(3)];
                let z = _mm512_castsi512_si128(g.zv);
                let mut r = _mm512_castsi128_si512(_mm_mask_loadu_epi8(z, m0 as __mmask16, a0));
                r = _mm512_inserti32x4::<1>(r, _mm_mask_loadu_epi8(z, m1 as __mmask16, a1));
                r = _mm512_inserti32x4::<2>(r, _mm_mask_loadu_epi8(z, m2 as __mmask16, a2));
                *v = _mm512_inserti32x4::<3>(r, _mm_mask_loadu_epi8(z, m3 as __mmask16, a3));
            } else {
                let z = _mm512_castsi512_si256(g.zv);
                let r = _mm512_castsi256_si512(_mm256_mask_loadu_epi8(z, m0 as __mmask32, a0));
                *v = _mm512_inserti64x4::<1>(r, _mm256_mask_loadu_epi8(z, m1 as __mmask32, a1));
            }
        }
    }
    quads(x[0], x[1], x[2], x[3])
}

/// The first `count` of the `P` pixels' levels in `v` (`len` bytes at the start of each
/// `512 / P`-bit part) to `dst`, `c` bytes apart.
///
/// # Safety
/// The CPU has the features; `dst` is valid for those pixels' `len` bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn store_parts<const P: usize>(v: __m512i, dst: *mut u8, c: usize, len: usize, count: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        if P == 4 {
            let m = ((1u32 << len) - 1) as __mmask16;
            let parts = [
                _mm512_castsi512_si128(v),
                _mm512_extracti32x4_epi32::<1>(v),
                _mm512_extracti32x4_epi32::<2>(v),
                _mm512_extracti32x4_epi32::<3>(v),
            ];
            for (p, part) in parts.iter().enumerate().take(count) {
                _mm_mask_storeu_epi8(dst.add(p * c).cast(), m, *part);
            }
        } else {
            let m = ((1u64 << len) - 1) as __mmask32;
            _mm256_mask_storeu_epi8(dst.cast(), m, _mm512_castsi512_si256(v));
            if count > 1 {
                _mm256_mask_storeu_epi8(dst.add(c).cast(), m, _mm512_extracti64x4_epi64::<1>(v));
            }
        }
    }
}
