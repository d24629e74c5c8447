//! AVX-VNNI int8 kernels: `vpdpbusd` on 256-bit vectors, for x86 CPUs that have it without
//! AVX-512 (4 unsigned activation bytes times 4 signed weight bytes added to 8 i32 lanes,
//! exactly). The 1x1 and classifier loops and the image quantization are the AVX2 kernels'
//! (`avx2`), the requantization and byte packs `avx2_requant`'s; the dot products
//! are this module's, the depthwise `avxvnni_dw`'s.
//!
//! - 1x1 convolutions (and the stem, on its patches, and the classifier): each group of 4
//!   inputs of a packed tile (16 channels x 4 inputs) is two vectors as it lies in memory, the
//!   pixel's 4 levels broadcast; 6 pixels x 16 channels per register tile (12 accumulators),
//!   the sums already in channel order.

use super::avx2::{linear_with, pointwise_with, Dot8};
use super::conv::group;
use super::isa::PwShape;
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
pub(crate) unsafe fn pointwise<S: PwShape>(x: &[u8], s: S, q: &QConv, res: Option<(&[u8], QShortcut)>, out: &mut [u8]) {
    // SAFETY: the caller's contract.
    unsafe { pointwise_with::<Dpbusd, S>(x, s, q, res, out) }
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
