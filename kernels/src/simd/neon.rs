//! AArch64 Advanced SIMD (NEON): 4 lanes, 32 vector registers. NEON has no masked loads, so
//! partial vectors go through a stack buffer (only channel remainders take that path).

use super::Simd;
use core::arch::aarch64::*;

#[derive(Clone, Copy)]
pub(crate) struct Neon;

// Callers run these only where NEON was detected, with pointers valid for the lanes touched
// (the `Simd` contract).
impl Simd for Neon {
    const WIDE: bool = true;
    const L: usize = 4;
    type V = float32x4_t;

    #[inline(always)]
    unsafe fn splat(x: f32) -> float32x4_t {
        // SAFETY: NEON is present (the `Simd` contract); register-only operation.
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        // SAFETY: NEON is present; pointer valid for the lanes touched (the `Simd` contract).
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: float32x4_t) {
        // SAFETY: NEON is present; pointer valid for the lanes touched (the `Simd` contract).
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> float32x4_t {
        let mut buf = [0.0f32; 4];
        // SAFETY: `n < 4` floats readable at `p` (the `Simd` contract); `buf` holds 4.
        unsafe {
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            vld1q_f32(buf.as_ptr())
        }
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, v: float32x4_t, n: usize) {
        let mut buf = [0.0f32; 4];
        // SAFETY: `n < 4` floats writable at `p` (the `Simd` contract); `buf` holds 4.
        unsafe {
            vst1q_f32(buf.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
    #[inline(always)]
    unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is present (the `Simd` contract); register-only operation.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is present (the `Simd` contract); register-only operation.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is present (the `Simd` contract); register-only operation.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn relu6(v: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is present (the `Simd` contract); register-only operation.
        unsafe { vminq_f32(vmaxq_f32(v, vdupq_n_f32(0.0)), vdupq_n_f32(6.0)) }
    }
}
