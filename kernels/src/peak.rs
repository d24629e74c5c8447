//! The core's FMA throughput, measured: the time bound that kernel benchmarks report against
//! (`601.5 MFLOP / peak` for MobileNetV2 1.0-224). Cores differ: some run 512-bit FMAs at twice
//! the 256-bit rate, others split them in two halves, so the bound is measured, not assumed.

use crate::simd::Simd;

/// Independent accumulator chains: more than FMA latency x FMA pipes on current cores.
const CHAINS: usize = 12;

/// `iters` rounds of `CHAINS` independent vector FMAs; returns a lane sum so nothing is
/// optimized away.
///
/// # Safety
/// The ISA of `S` must be present.
#[inline(always)]
pub(crate) unsafe fn fma_chains<S: Simd>(iters: usize, seed: f32) -> f32 {
    // SAFETY: register-only operations except the store into `lanes`, which holds `S::L` floats.
    unsafe {
        let mut acc = [S::splat(seed); CHAINS];
        let (x, y) = (S::splat(core::hint::black_box(0.999_999)), S::splat(core::hint::black_box(1e-7)));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = S::fma(*a, x, y);
            }
        }
        let mut sum = acc[0];
        for &a in &acc[1..] {
            sum = S::add(sum, a);
        }
        let mut lanes = [0.0f32; 16];
        S::store(lanes.as_mut_ptr(), sum);
        lanes[..S::L].iter().sum()
    }
}

/// FLOPs that `fma_chains::<S>(iters, _)` performs.
pub(crate) fn fma_chains_flops(lanes: usize, iters: usize) -> f64 {
    (2 * CHAINS * lanes * iters) as f64
}
