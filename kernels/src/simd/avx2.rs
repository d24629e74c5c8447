//! AVX2 + FMA: 8 lanes.

use super::Simd;
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx2;

#[inline(always)]
unsafe fn lane_mask(n: usize) -> __m256i {
    // SAFETY: plain register arithmetic; AVX2 is present (module contract).
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

// Callers run these only where AVX2 and FMA were detected, with pointers
// valid for the lanes touched (the `Simd` contract).
impl Simd for Avx2 {
    const WIDE: bool = true;
    const L: usize = 8;
    type V = __m256;

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); register-only operation.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: AVX2 is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm256_maskload_ps(p, lane_mask(n)) }
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, v: __m256, n: usize) {
        // SAFETY: AVX2 is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm256_maskstore_ps(p, lane_mask(n), v) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); register-only operation.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); register-only operation.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); register-only operation.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn relu6(v: __m256) -> __m256 {
        // SAFETY: AVX2 is present (the `Simd` contract); register-only operation.
        unsafe { _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.0)) }
    }
}
