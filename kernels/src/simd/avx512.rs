//! AVX-512F: 16 lanes, native lane masks.

use super::Simd;
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx512;

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

// Callers run these only where AVX-512F was detected, with pointers valid
// for the lanes touched (the `Simd` contract).
impl Simd for Avx512 {
    const WIDE: bool = true;
    const L: usize = 16;
    type V = __m512;

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); register-only operation.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: AVX-512F is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, v: __m512, n: usize) {
        // SAFETY: AVX-512F is present (the `Simd` contract); pointer valid for the lanes touched (the `Simd` contract).
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); register-only operation.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); register-only operation.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); register-only operation.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn relu6(v: __m512) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); register-only operation.
        unsafe { _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0)) }
    }

    const PAIRS: bool = true;
    #[inline(always)]
    unsafe fn interleave_pair(a: *const f32, b: *const f32) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); 8 floats readable at `a` and at `b`.
        unsafe {
            let idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let (a, b) = (_mm512_castps256_ps512(_mm256_loadu_ps(a)), _mm512_castps256_ps512(_mm256_loadu_ps(b)));
            _mm512_permutex2var_ps(a, idx, b)
        }
    }
    #[inline(always)]
    unsafe fn broadcast_pair(p: *const f32) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); 2 floats readable at `p`.
        unsafe { _mm512_castsi512_ps(_mm512_set1_epi64(p.cast::<i64>().read_unaligned())) }
    }
    #[inline(always)]
    unsafe fn fold_pairs(v: __m512) -> __m512 {
        // SAFETY: AVX-512F is present (the `Simd` contract); register-only operation.
        unsafe {
            let sums = _mm512_add_ps(v, _mm512_permute_ps::<0xB1>(v));
            let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
            _mm512_permutexvar_ps(idx, sums)
        }
    }
}
