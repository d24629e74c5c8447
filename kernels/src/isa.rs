//! Which kernels run: AVX-512 or AVX2+FMA on x86-64, NEON on aarch64, or portable, chosen by CPU
//! detection at run time (with `std`; without it, by the compile target's features).
//!
//! Each kernel body is written once (generic over `Simd`) and reached through
//! `#[target_feature]` entry points per ISA, in two forms: shape-constant entry points, generic
//! over a step's shapes (const generics or a `BlockShape` type), which generated code
//! instantiates once per layer in the user's crate, so every trip count, tile choice and
//! remainder inside the inlined body is a constant; and run-time-shaped entry points, compiled
//! once here, kept as the debug path and as the baseline the benchmarks compare with. AVX-512,
//! AVX2 and NEON have both; the portable fallback's shape-generic names forward to its
//! run-time-shaped entry points, so a user's crate compiles one copy of each layer per SIMD ISA
//! of its target (two on x86-64, one on aarch64), not one more for the fallback.

use crate::block::{BlockDims, BlockPart, BlockPtrs, BlockShape};
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
    /// AArch64 Advanced SIMD (4 lanes, 32 registers).
    Neon,
}

impl Isa {
    /// Every ISA, best first.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable];

    /// Whether this CPU runs `self`: detected at run time with `std`, decided by the compile
    /// target's features (`-C target-feature`, `-C target-cpu`) without it.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(all(target_arch = "x86_64", feature = "std"))]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(all(target_arch = "x86_64", feature = "std"))]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
            }
            #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
            Isa::Avx2 => cfg!(all(target_feature = "avx2", target_feature = "fma")),
            #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
            Isa::Avx512 => cfg!(all(target_feature = "avx512f", target_feature = "avx2", target_feature = "fma")),
            #[cfg(all(target_arch = "aarch64", feature = "std"))]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(all(target_arch = "aarch64", not(feature = "std")))]
            Isa::Neon => cfg!(target_feature = "neon"),
            _ => false,
        }
    }

    /// The ISAs this CPU runs, best first.
    #[cfg(feature = "std")]
    pub fn supported() -> std::vec::Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The best supported ISA, or the one named by `MOBILENET_ISA` (`avx512`, `avx2`, `neon`,
    /// `portable`) if this CPU runs it.
    #[cfg(feature = "std")]
    pub fn detect() -> Isa {
        let forced = std::env::var("MOBILENET_ISA").ok().and_then(|v| Isa::from_name(&v));
        match forced {
            Some(isa) if isa.is_supported() => isa,
            _ => Isa::best(),
        }
    }

    /// The ISA `MOBILENET_ISA` names (`avx512`, `avx2`, `neon`, `portable`, any case).
    pub fn from_name(name: &str) -> Option<Isa> {
        let names = [("avx512", Isa::Avx512), ("avx2", Isa::Avx2), ("neon", Isa::Neon), ("portable", Isa::Portable)];
        names.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, isa)| isa)
    }

    /// The best ISA the compile target guarantees.
    #[cfg(not(feature = "std"))]
    pub fn detect() -> Isa {
        Isa::best()
    }

    fn best() -> Isa {
        let mut all = Isa::ALL.into_iter();
        all.find(|i| i.is_supported()).unwrap_or(Isa::Portable)
    }
}

/// Proof that an ISA runs on this CPU: the only way to reach the kernels. It also says whether
/// the shape-constant kernels run (the default) or the run-time-shaped ones (to compare them),
/// and whether int8 models use the CPU's VNNI dot products and AMX tiles (the default) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    isa: Isa,
    specialized: bool,
    vnni: bool,
    amx: bool,
}

impl Cpu {
    /// `Some` if this CPU runs `isa`.
    pub fn new(isa: Isa) -> Option<Cpu> {
        isa.is_supported().then_some(Cpu { isa, specialized: true, vnni: true, amx: true })
    }

    /// The best ISA (`Isa::detect`); with `std`, `MOBILENET_VNNI=0` turns VNNI off for int8,
    /// `MOBILENET_AMX=0` AMX.
    pub fn detect() -> Cpu {
        #[cfg(feature = "std")]
        let on = |var| std::env::var(var).map_or(true, |v| v != "0");
        #[cfg(not(feature = "std"))]
        let on = |_: &str| true;
        Cpu { isa: Isa::detect(), specialized: true, vnni: on("MOBILENET_VNNI"), amx: on("MOBILENET_AMX") }
    }

    /// `detect()`, run once per process (with `std`), so the per-call path (`forward_in`)
    /// neither reads the environment nor allocates.
    pub fn detected() -> Cpu {
        #[cfg(feature = "std")]
        {
            static CPU: std::sync::OnceLock<Cpu> = std::sync::OnceLock::new();
            *CPU.get_or_init(Cpu::detect)
        }
        #[cfg(not(feature = "std"))]
        Cpu::detect()
    }

    pub fn isa(self) -> Isa {
        self.isa
    }

    /// Whether steps run their shape-constant kernels (`true`) or the run-time-shaped ones.
    pub fn specialized(self) -> bool {
        self.specialized
    }

    /// The same ISA, with shape-constant kernels or not.
    pub fn with_specialized(self, specialized: bool) -> Cpu {
        Cpu { specialized, ..self }
    }

    /// Whether int8 models may use VNNI's `vpdpbusd` (AVX-512 VNNI with `Isa::Avx512`, AVX-VNNI
    /// with `Isa::Avx2`) where the CPU has it (`true`), or run the AVX2 kernels (`false`).
    pub fn vnni(self) -> bool {
        self.vnni
    }

    /// The same ISA, with VNNI allowed for int8 or not.
    pub fn with_vnni(self, vnni: bool) -> Cpu {
        Cpu { vnni, ..self }
    }

    /// Whether int8 models may use AMX tiles (with `Isa::Avx512` and VNNI) where the CPU and the
    /// OS allow them (`true`), or not.
    pub fn amx(self) -> bool {
        self.amx
    }

    /// The same ISA, with AMX allowed for int8 or not.
    pub fn with_amx(self, amx: bool) -> Cpu {
        Cpu { amx, ..self }
    }

    /// The int8 kernels this CPU value runs: `"amx"`, `"avx512-vnni"`, `"avx-vnni"`, `"avx2"` or
    /// `"portable"`.
    pub fn int8_kernels(self) -> &'static str {
        crate::int8::kernels_name(self)
    }
}

macro_rules! entries {
    ($module:ident, $simd:ty, $(#[$attr:meta])*, gemm = ($mr:literal, $nv:literal), gemv_nv = $gv:literal, px = $px:literal, shape_constant = $sc:ident) => {
        pub(crate) mod $module {
            use super::*;
            type S = $simd;

            $(#[$attr])*
            pub(crate) unsafe fn gemm(g: &Gemm) {
                // SAFETY: forwarded contract.
                unsafe { crate::gemm::gemm::<S, $mr, $nv>(g) }
            }

            $(#[$attr])*
            pub(crate) unsafe fn gemm_units(g: &Gemm, units: core::ops::Range<usize>) {
                // SAFETY: forwarded contract.
                unsafe { crate::gemm::gemm_units::<S, $mr, $nv>(g, units, $mr) }
            }

            $(#[$attr])*
            pub(crate) unsafe fn gemv(g: &Gemm) {
                // SAFETY: forwarded contract.
                unsafe { crate::gemm::gemm::<S, 1, $gv>(g) }
            }

            $(#[$attr])*
            #[allow(clippy::too_many_arguments)]
            pub(crate) unsafe fn dw_rows(d: &DwRow, h: usize, pad_top: usize, x: *const f32, wt: *const f32, b: *const f32, out: *mut f32, rows: core::ops::Range<usize>) {
                let rows_at = |r: usize| crate::block::row_ptrs(x, h, d.w_in * d.c, (rows.start + r) * d.stride + 1 - pad_top);
                // SAFETY: forwarded contract; `row_ptrs` only yields rows inside the image.
                unsafe { crate::dw::dw_band::<S, $px>(d, rows.len(), rows_at, wt, b, out.add(rows.start * d.wo * d.c)) }
            }

            $(#[$attr])*
            #[allow(clippy::too_many_arguments)]
            pub(crate) unsafe fn stem_rows(h: usize, w_in: usize, cout: usize, wo: usize, pad: (usize, usize), x: *const f32, wt: *const f32, b: *const f32, out: *mut f32, rows: core::ops::Range<usize>) {
                // SAFETY: forwarded contract.
                unsafe { crate::stem::stem_rows::<S, $px>(h, w_in, cout, wo, pad, x, wt, b, out, rows) }
            }

            $(#[$attr])*
            pub(crate) unsafe fn avg_pool(hw: usize, c: usize, x: *const f32, out: *mut f32) {
                // SAFETY: forwarded contract.
                unsafe { crate::pool::avg_pool::<S>(hw, c, x, out) }
            }

            #[cfg(feature = "std")]
            $(#[$attr])*
            pub(crate) unsafe fn fma_chains(iters: usize, seed: f32) -> (f32, usize) {
                // SAFETY: forwarded contract.
                (unsafe { crate::peak::fma_chains::<S>(iters, seed) }, <S as crate::simd::Simd>::L)
            }

            $(#[$attr])*
            pub(crate) unsafe fn block_dyn(d: &BlockDims, p: &BlockPtrs, part: BlockPart) {
                // SAFETY: forwarded contract.
                unsafe { crate::block::block_part::<S, $mr, $nv, $px>(d, p, part, false) }
            }

            $(#[$attr])*
            pub(crate) unsafe fn block_batch_dyn(d: &BlockDims, ps: &[BlockPtrs]) {
                // SAFETY: forwarded contract.
                unsafe { crate::block::block_batch::<S, $mr, $nv, $px>(d, ps, false) }
            }

            shape_constant_entries!($sc, $(#[$attr])*, gemm = ($mr, $nv), gemv_nv = $gv, px = $px);
        }
    };
}

/// The entry points generic over a step's shapes. `yes`: `#[target_feature]` functions whose
/// inlined bodies see the shapes as constants, instantiated in the user's crate. `no`: the same
/// names forwarding to the run-time-shaped entry points compiled here (for the portable path,
/// a fallback, so that a user's crate does not compile a third copy of every layer).
macro_rules! shape_constant_entries {
    (yes, $(#[$attr:meta])*, gemm = ($mr:literal, $nv:literal), gemv_nv = $gv:literal, px = $px:literal) => {
        /// `gemm` with `K` inputs and `N` outputs a pixel (unit row strides) as constants, in register
        /// tiles sized for a layer of `P` pixels (`gemm::tile_rows`).
        $(#[$attr])*
        pub(crate) unsafe fn gemm_kn<const P: usize, const K: usize, const N: usize, const RELU: bool>(g: &Gemm) {
            let g = Gemm { k: K, n: N, lda: K, ldo: N, ldr: N, relu: RELU, ..*g };
            // SAFETY: forwarded contract (the caller's `g` has these shapes, rows of a layer of
            // `P` pixels).
            unsafe { crate::gemm::gemm_sized::<S, $mr, $nv>(&g, crate::gemm::tile_rows($mr, P)) }
        }

        /// `gemm_units` with `gemm_kn`'s constants.
        $(#[$attr])*
        pub(crate) unsafe fn gemm_kn_units<const P: usize, const K: usize, const N: usize, const RELU: bool>(g: &Gemm, units: core::ops::Range<usize>) {
            let g = Gemm { k: K, n: N, lda: K, ldo: N, ldr: N, relu: RELU, ..*g };
            // SAFETY: forwarded contract (the caller's `g` has these shapes).
            unsafe { crate::gemm::gemm_units::<S, $mr, $nv>(&g, units, crate::gemm::tile_rows($mr, P)) }
        }

        /// `gemm` with `K` inputs and `N` outputs a row as constants, row strides as given.
        $(#[$attr])*
        pub(crate) unsafe fn gemm_rows_kn<const K: usize, const N: usize>(g: &Gemm) {
            let g = Gemm { k: K, n: N, ..*g };
            // SAFETY: forwarded contract (the caller's `g` has these shapes).
            unsafe { crate::gemm::gemm::<S, $mr, $nv>(&g) }
        }

        /// `gemv` with `K` inputs as a constant.
        $(#[$attr])*
        pub(crate) unsafe fn gemv_k<const K: usize>(g: &Gemm) {
            let g = Gemm { k: K, lda: K, ..*g };
            // SAFETY: forwarded contract (the caller's `g` has `K` inputs).
            unsafe { crate::gemm::gemm::<S, 1, $gv>(&g) }
        }

        /// `stem_rows` of an `H x W` image to `CO` channels, shapes and padding (TF's "SAME" if
        /// `TF`) as constants.
        $(#[$attr])*
        pub(crate) unsafe fn stem_rows_hwc<const H: usize, const W: usize, const CO: usize, const TF: bool>(x: *const f32, wt: *const f32, b: *const f32, out: *mut f32, rows: core::ops::Range<usize>) {
            let wo = crate::reference::conv3x3_out(W, 2);
            let pad = crate::reference::Padding::of_tf(TF);
            // SAFETY: forwarded contract.
            unsafe { crate::stem::stem_rows::<S, $px>(H, W, CO, wo, (pad.before(H, 2), pad.before(W, 2)), x, wt, b, out, rows) }
        }

        /// `avg_pool` of `HW` pixels of `C` channels, shapes as constants.
        $(#[$attr])*
        pub(crate) unsafe fn avg_pool_hwc<const HW: usize, const C: usize>(x: *const f32, out: *mut f32) {
            // SAFETY: forwarded contract.
            unsafe { crate::pool::avg_pool::<S>(HW, C, x, out) }
        }

        /// `block_dyn` of the block `B`: its shapes are constants in the inlined body.
        $(#[$attr])*
        pub(crate) unsafe fn block<B: BlockShape>(p: &BlockPtrs, part: BlockPart) {
            // SAFETY: forwarded contract.
            unsafe { crate::block::block_part::<S, $mr, $nv, $px>(&B::DIMS, p, part, true) }
        }

        /// `block_batch_dyn` of the block `B`, shapes as constants.
        $(#[$attr])*
        pub(crate) unsafe fn block_batch<B: BlockShape>(ps: &[BlockPtrs]) {
            // SAFETY: forwarded contract.
            unsafe { crate::block::block_batch::<S, $mr, $nv, $px>(&B::DIMS, ps, true) }
        }
    };
    (no, $(#[$attr:meta])*, gemm = ($mr:literal, $nv:literal), gemv_nv = $gv:literal, px = $px:literal) => {
        pub(crate) unsafe fn gemm_kn<const P: usize, const K: usize, const N: usize, const RELU: bool>(g: &Gemm) {
            // SAFETY: forwarded contract.
            unsafe { gemm(&Gemm { k: K, n: N, lda: K, ldo: N, ldr: N, relu: RELU, ..*g }) }
        }

        pub(crate) unsafe fn gemm_kn_units<const P: usize, const K: usize, const N: usize, const RELU: bool>(g: &Gemm, units: core::ops::Range<usize>) {
            // SAFETY: forwarded contract.
            unsafe { gemm_units(&Gemm { k: K, n: N, lda: K, ldo: N, ldr: N, relu: RELU, ..*g }, units) }
        }

        pub(crate) unsafe fn gemm_rows_kn<const K: usize, const N: usize>(g: &Gemm) {
            // SAFETY: forwarded contract.
            unsafe { gemm(&Gemm { k: K, n: N, ..*g }) }
        }

        pub(crate) unsafe fn gemv_k<const K: usize>(g: &Gemm) {
            // SAFETY: forwarded contract.
            unsafe { gemv(&Gemm { k: K, lda: K, ..*g }) }
        }

        pub(crate) unsafe fn stem_rows_hwc<const H: usize, const W: usize, const CO: usize, const TF: bool>(x: *const f32, wt: *const f32, b: *const f32, out: *mut f32, rows: core::ops::Range<usize>) {
            let pad = crate::reference::Padding::of_tf(TF);
            // SAFETY: forwarded contract.
            unsafe { stem_rows(H, W, CO, crate::reference::conv3x3_out(W, 2), (pad.before(H, 2), pad.before(W, 2)), x, wt, b, out, rows) }
        }

        pub(crate) unsafe fn avg_pool_hwc<const HW: usize, const C: usize>(x: *const f32, out: *mut f32) {
            // SAFETY: forwarded contract.
            unsafe { avg_pool(HW, C, x, out) }
        }

        pub(crate) unsafe fn block<B: BlockShape>(p: &BlockPtrs, part: BlockPart) {
            // SAFETY: forwarded contract.
            unsafe { block_dyn(&B::DIMS, p, part) }
        }

        pub(crate) unsafe fn block_batch<B: BlockShape>(ps: &[BlockPtrs]) {
            // SAFETY: forwarded contract.
            unsafe { block_batch_dyn(&B::DIMS, ps) }
        }
    };
}

entries!(portable, crate::simd::portable::Portable, , gemm = (4, 2), gemv_nv = 4, px = 4, shape_constant = no);
#[cfg(target_arch = "x86_64")]
entries!(avx2, crate::simd::avx2::Avx2, #[target_feature(enable = "avx2,fma")], gemm = (6, 2), gemv_nv = 4, px = 4, shape_constant = yes);
#[cfg(target_arch = "x86_64")]
entries!(avx512, crate::simd::avx512::Avx512, #[target_feature(enable = "avx512f,avx2,fma")], gemm = (12, 2), gemv_nv = 4, px = 8, shape_constant = yes);
// 6 pixels x 16 channels: 24 accumulators, 4 weight vectors and the broadcast pixel fit the 32
// registers; the one-pixel GEMV keeps 8 accumulators in flight (4-cycle FMA latency, 2 pipes).
#[cfg(target_arch = "aarch64")]
entries!(neon, crate::simd::neon::Neon, #[target_feature(enable = "neon")], gemm = (6, 4), gemv_nv = 8, px = 8, shape_constant = yes);

/// Route a kernel call to the `Cpu`'s ISA.
macro_rules! route {
    ($cpu:expr, $f:ident $(::<$($g:tt),*>)? ($($arg:expr),*)) => {
        match $cpu.isa() {
            #[cfg(target_arch = "x86_64")]
            $crate::isa::Isa::Avx512 => avx512::$f$(::<$($g),*>)?($($arg),*),
            #[cfg(target_arch = "x86_64")]
            $crate::isa::Isa::Avx2 => avx2::$f$(::<$($g),*>)?($($arg),*),
            #[cfg(target_arch = "aarch64")]
            $crate::isa::Isa::Neon => neon::$f$(::<$($g),*>)?($($arg),*),
            _ => portable::$f$(::<$($g),*>)?($($arg),*),
        }
    };
}
pub(crate) use route;

#[cfg(test)]
mod tests {
    use super::Isa;

    #[test]
    fn names_select_isas() {
        assert_eq!(Isa::from_name("neon"), Some(Isa::Neon));
        assert_eq!(Isa::from_name("AVX512"), Some(Isa::Avx512));
        assert_eq!(Isa::from_name("avx2"), Some(Isa::Avx2));
        assert_eq!(Isa::from_name("portable"), Some(Isa::Portable));
        assert_eq!(Isa::from_name("sse"), None);
    }

    /// On aarch64 (under qemu in CI) the kernels run NEON unless told otherwise; the x86 ISAs
    /// are never offered there, nor NEON on x86.
    #[test]
    fn the_architectures_simd_is_the_default() {
        #[cfg(target_arch = "aarch64")]
        {
            assert!(Isa::Neon.is_supported());
            assert_eq!(Isa::best(), Isa::Neon);
            assert!(!Isa::Avx512.is_supported() && !Isa::Avx2.is_supported());
        }
        #[cfg(target_arch = "x86_64")]
        {
            assert!(!Isa::Neon.is_supported());
            assert_ne!(Isa::best(), Isa::Neon);
        }
        assert!(Isa::Portable.is_supported());
    }
}
