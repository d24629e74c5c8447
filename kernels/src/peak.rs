//! The core's FMA throughput, measured: the time bound that kernel benchmarks report against
//! (`601.5 MFLOP / peak` for MobileNetV2 1.0-224). Cores differ: some run 512-bit FMAs at twice
//! the 256-bit rate, others split them in two halves, so the bound is measured, not assumed.

use crate::isa::{route, Cpu};
use crate::simd::Simd;

#[cfg(target_arch = "aarch64")]
use crate::isa::neon;
use crate::isa::portable;
#[cfg(target_arch = "x86_64")]
use crate::isa::{avx2, avx512};

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
fn fma_chains_flops(lanes: usize, iters: usize) -> f64 {
    (2 * CHAINS * lanes * iters) as f64
}

/// This core's measured FMA throughput with `cpu`'s kernels' vectors, in GFLOP/s (best of a few
/// short runs, about 50 ms in all): the peak that benchmarks divide the model's FLOPs by.
pub fn fma_peak_gflops(cpu: Cpu) -> f64 {
    let iters = 1 << 20;
    let mut best = 0.0f64;
    for round in 0..5 {
        let start = std::time::Instant::now();
        // SAFETY: `cpu` proves the ISA; the kernel touches registers and a local array only.
        let (sum, lanes) = unsafe { route!(cpu, fma_chains(iters, round as f32)) };
        let secs = start.elapsed().as_secs_f64();
        core::hint::black_box(sum);
        best = best.max(fma_chains_flops(lanes, iters) / secs / 1e9);
    }
    best
}
