//! Which kernels run: AVX-512, AVX2+FMA or portable, chosen by CPU detection at run time.
//! Each kernel is instantiated once per ISA inside a `#[target_feature]` function.

use crate::block::{BlockDims, BlockPtrs};
use crate::dw::DwRow;
use crate::gemm::Gemm;

/// An instruction set the kernels are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust that LLVM vectorises for the compile target (SSE2 on x86-64).
    Portable,
    /// AVX2 and FMA (8 lanes).
    Avx2,
    /// AVX-512F (16 lanes).
    Avx512,
}

impl Isa {
    /// Every ISA, best first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// Whether this CPU runs `self`.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The ISAs this CPU runs, best first.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The best supported ISA, or the one named by `MOBILENET_ISA` (`avx512`, `avx2`,
    /// `portable`) if this CPU runs it.
    pub fn detect() -> Isa {
        let forced = std::env::var("MOBILENET_ISA").ok().and_then(|v| match v.to_ascii_lowercase().as_str() {
            "avx512" => Some(Isa::Avx512),
            "avx2" => Some(Isa::Avx2),
            "portable" => Some(Isa::Portable),
            _ => None,
        });
        match forced {
            Some(isa) if isa.is_supported() => isa,
            _ => Isa::supported()[0],
        }
    }
}

/// Proof that an ISA runs on this CPU: the only way to reach the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu(Isa);

impl Cpu {
    /// `Some` if this CPU runs `isa`.
    pub fn new(isa: Isa) -> Option<Cpu> {
        isa.is_supported().then_some(Cpu(isa))
    }

    pub fn detect() -> Cpu {
        Cpu(Isa::detect())
    }

    pub fn isa(self) -> Isa {
        self.0
    }
}

macro_rules! entries {
    ($module:ident, $simd:ty, $(#[$attr:meta])*, gemm = ($mr:literal, $nv:literal), gemv_nv = $gv:literal, px = $px:literal) => {
        pub(crate) mod $module {
            use super::*;
            use crate::simd::Simd;
            type S = $simd;

            $(#[$attr])*
            pub(crate) unsafe fn gemm(g: &Gemm) {
                // SAFETY: forwarded contract.
                unsafe { crate::gemm::gemm::<S, $mr, $nv>(g) }
            }

            $(#[$attr])*
            pub(crate) unsafe fn gemv(g: &Gemm) {
                // SAFETY: forwarded contract.
                unsafe { crate::gemm::gemm::<S, 1, $gv>(g) }
            }

            $(#[$attr])*
            pub(crate) unsafe fn dw_rows(d: &DwRow, h: usize, x: *const f32, wt: *const f32, b: *const f32, out: *mut f32, rows: core::ops::Range<usize>) {
                for oy in rows {
                    let (r, v) = crate::block::row_ptrs(x, h, d.w_in * d.c, oy * d.stride);
                    // SAFETY: forwarded contract; `row_ptrs` only yields rows inside the image.
                    unsafe { crate::dw::dw_row::<S, $px>(d, r, v, wt, b, out.add(oy * d.wo * d.c)) }
                }
            }

            $(#[$attr])*
            #[allow(clippy::too_many_arguments)]
            pub(crate) unsafe fn stem_rows(h: usize, w_in: usize, cout: usize, wo: usize, x: *const f32, wt: *const f32, b: *const f32, out: *mut f32, rows: core::ops::Range<usize>) {
                for oy in rows {
                    let (r, v) = crate::block::row_ptrs(x, h, w_in * 3, 2 * oy);
                    // SAFETY: forwarded contract; `row_ptrs` only yields rows inside the image.
                    unsafe { crate::stem::stem_row::<S, $px>(w_in, cout, wo, r, v, wt, b, out.add(oy * wo * cout)) }
                }
            }

            $(#[$attr])*
            pub(crate) unsafe fn avg_pool(hw: usize, c: usize, x: *const f32, out: *mut f32) {
                let scale = 1.0 / hw as f32;
                let mut c0 = 0;
                while c0 < c {
                    let lanes = (c - c0).min(S::L);
                    // SAFETY: `x` holds `hw * c` floats, `out` `c`.
                    unsafe {
                        let mut acc = S::splat(0.0);
                        for p in 0..hw {
                            acc = S::add(acc, S::load_n(x.add(p * c + c0), lanes));
                        }
                        S::store_n(out.add(c0), S::mul(acc, S::splat(scale)), lanes);
                    }
                    c0 += S::L;
                }
            }

            $(#[$attr])*
            pub(crate) unsafe fn fma_chains(iters: usize, seed: f32) -> (f32, usize) {
                // SAFETY: forwarded contract.
                (unsafe { crate::peak::fma_chains::<S>(iters, seed) }, S::L)
            }

            $(#[$attr])*
            pub(crate) unsafe fn block(d: &BlockDims, p: &BlockPtrs, rows: core::ops::Range<usize>) {
                // SAFETY: forwarded contract.
                unsafe { crate::block::block_rows::<S, $mr, $nv, $px>(d, p, rows) }
            }
        }
    };
}

entries!(portable, crate::simd::portable::Portable, , gemm = (4, 2), gemv_nv = 4, px = 4);
#[cfg(target_arch = "x86_64")]
entries!(avx2, crate::simd::avx2::Avx2, #[target_feature(enable = "avx2,fma")], gemm = (6, 2), gemv_nv = 4, px = 4);
#[cfg(target_arch = "x86_64")]
entries!(avx512, crate::simd::avx512::Avx512, #[target_feature(enable = "avx512f,avx2,fma")], gemm = (12, 2), gemv_nv = 4, px = 8);

/// Route a kernel call to the `Cpu`'s ISA.
macro_rules! route {
    ($cpu:expr, $f:ident($($arg:expr),*)) => {
        match $cpu.isa() {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::$f($($arg),*),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::$f($($arg),*),
            _ => portable::$f($($arg),*),
        }
    };
}
pub(crate) use route;
