//! Which int8 code runs for a `Cpu`: AMX (`amx`: the VNNI kernels, with `tdpbusd` tiles for
//! the 1x1 convolutions) where the CPU and the OS allow it, `Cpu::amx` is on and the arena's ISA
//! is AVX-512; AVX-512 VNNI (`vpdpbusd` on 512 bits for the 1x1 convolutions, the stem, the
//! depthwise and the classifier, `vnni`) where the CPU has it and the ISA is AVX-512; AVX-VNNI
//! (`vpdpbusd` on 256 bits, `avxvnni`) where the CPU has it and the ISA is AVX2, or AVX-512
//! without AVX-512 VNNI; AVX2 kernels (`vpmaddwd` on
//! operands widened to i16, `avx2`) on the other AVX2 and AVX-512 CPUs, or when `Cpu::vnni` is
//! off; plain portable code otherwise (NEON: portable, vectorised by LLVM for the target).
//! Pooling is the portable body compiled with the path's features. Forcing an ISA with
//! `Arena::set_isa` or `MOBILENET_ISA` forces the int8 path with it. Every path gives the same
//! bits.

use crate::isa::Cpu;
#[cfg(target_arch = "x86_64")]
use crate::isa::Isa;

/// An int8 kernel path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
    #[cfg(target_arch = "x86_64")]
    Vnni,
    #[cfg(target_arch = "x86_64")]
    Amx,
}

/// Whether this CPU has AVX-512 F, BW, VL and VNNI (the VNNI path's features).
#[cfg(target_arch = "x86_64")]
pub fn has_avx512_vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "avx512vnni"
        ))
    }
}

/// Whether this CPU has AVX-VNNI (256-bit `vpdpbusd` without AVX-512).
#[cfg(target_arch = "x86_64")]
pub fn has_avx_vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avxvnni")
    }
}

pub(crate) fn path(cpu: Cpu) -> Path {
    match cpu.isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if cpu.vnni() && cpu.amx() && super::amx::has_amx() => Path::Amx,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if cpu.vnni() && has_avx512_vnni() => Path::Vnni,
        // `Cpu` proves AVX2 and FMA for these.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 if cpu.vnni() && has_avx_vnni() => Path::AvxVnni,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => Path::Avx2,
        _ => Path::Portable,
    }
}

/// The name of `path(cpu)`, for `Cpu::int8_kernels`.
pub(crate) fn kernels_name(cpu: Cpu) -> &'static str {
    match path(cpu) {
        Path::Portable => "portable",
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => "avx2",
        #[cfg(target_arch = "x86_64")]
        Path::AvxVnni => "avx-vnni",
        #[cfg(target_arch = "x86_64")]
        Path::Vnni => "avx512-vnni",
        #[cfg(target_arch = "x86_64")]
        Path::Amx => "amx",
    }
}
