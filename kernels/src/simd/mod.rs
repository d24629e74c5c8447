//! A small vector abstraction: the kernels are written once over `Simd` and instantiated for
//! AVX-512, AVX2+FMA, NEON (aarch64) and a portable fallback. Every method is
//! `#[inline(always)]` so a kernel inlines whole into its `#[target_feature]` entry point.
//!
//! All methods are `unsafe`: pointers must be valid for the lanes touched, and the ISA's CPU
//! features must be present (guaranteed by `Cpu::new`, which refuses an ISA the CPU lacks, before
//! any entry point runs).

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod portable;

pub(crate) trait Simd: Copy {
    /// f32 lanes per vector.
    const L: usize;
    /// Whether the register file holds the wide register tiles (16+ vector registers).
    const WIDE: bool;
    type V: Copy;
    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Load the first `n < L` lanes, zero the rest.
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V;
    /// Store the first `n < L` lanes.
    unsafe fn store_part(p: *mut f32, v: Self::V, n: usize);
    /// `a * b + c`
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// ReLU6: clamp to [0, 6].
    unsafe fn relu6(v: Self::V) -> Self::V;

    /// Whether GEMMs whose last vector of outputs would be at most half full run on pairs of `k`
    /// (`gemm::runs_on_pairs`): the `*_pair*` methods below exist.
    const PAIRS: bool = false;
    /// `[a[0], b[0], a[1], b[1], ..]`: the first `L / 2` floats at `a` and at `b`, interleaved.
    unsafe fn interleave_pair(_a: *const f32, _b: *const f32) -> Self::V {
        unreachable!("`Simd::PAIRS` is false")
    }
    /// `[p[0], p[1], p[0], p[1], ..]`.
    unsafe fn broadcast_pair(_p: *const f32) -> Self::V {
        unreachable!("`Simd::PAIRS` is false")
    }
    /// Lanes `2i` and `2i + 1` summed into lane `i`, for `i < L / 2`; the other lanes unspecified.
    unsafe fn fold_pairs(_v: Self::V) -> Self::V {
        unreachable!("`Simd::PAIRS` is false")
    }

    /// Load `n` lanes (`n <= L`), zero-filling the rest.
    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> Self::V {
        // SAFETY: the caller guarantees `n` readable lanes at `p`.
        unsafe {
            if n >= Self::L {
                Self::load(p)
            } else {
                Self::load_part(p, n)
            }
        }
    }

    /// Store `n` lanes (`n <= L`).
    #[inline(always)]
    unsafe fn store_n(p: *mut f32, v: Self::V, n: usize) {
        // SAFETY: the caller guarantees `n` writable lanes at `p`.
        unsafe {
            if n >= Self::L {
                Self::store(p, v)
            } else {
                Self::store_part(p, v, n)
            }
        }
    }
}
