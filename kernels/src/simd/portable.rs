//! Plain arrays that LLVM vectorises for whatever the target has (SSE2 on any x86-64).

use super::Simd;

#[derive(Clone, Copy)]
pub(crate) struct Portable;

const L: usize = 8;

impl Simd for Portable {
    const WIDE: bool = false;
    const L: usize = L;
    type V = [f32; L];

    #[inline(always)]
    unsafe fn splat(x: f32) -> [f32; L] {
        [x; L]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> [f32; L] {
        // SAFETY: the caller guarantees L readable floats at `p`.
        unsafe { core::ptr::read_unaligned(p as *const [f32; L]) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: [f32; L]) {
        // SAFETY: the caller guarantees L writable floats at `p`.
        unsafe { core::ptr::write_unaligned(p as *mut [f32; L], v) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> [f32; L] {
        let mut v = [0.0; L];
        for (i, x) in v.iter_mut().enumerate().take(n) {
            // SAFETY: the caller guarantees n readable floats at `p`.
            *x = unsafe { *p.add(i) };
        }
        v
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, v: [f32; L], n: usize) {
        for (i, x) in v.iter().enumerate().take(n) {
            // SAFETY: the caller guarantees n writable floats at `p`.
            unsafe { *p.add(i) = *x };
        }
    }
    #[inline(always)]
    unsafe fn fma(a: [f32; L], b: [f32; L], c: [f32; L]) -> [f32; L] {
        core::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    unsafe fn add(a: [f32; L], b: [f32; L]) -> [f32; L] {
        core::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    unsafe fn mul(a: [f32; L], b: [f32; L]) -> [f32; L] {
        core::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn relu6(v: [f32; L]) -> [f32; L] {
        core::array::from_fn(|i| v[i].clamp(0.0, 6.0))
    }
}
