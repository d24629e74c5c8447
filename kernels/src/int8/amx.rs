//! AMX-INT8 for the 1x1 convolutions of the AVX-512 VNNI path (Intel Xeon since Sapphire
//! Rapids): `tdpbusd` multiplies a tile of 16 pixels x 64 input levels (u8) by a tile of 16
//! groups of 4 inputs x 16 channels (s8, exactly the packed weight tiles' layout) into 16 x 16
//! i32 sums, exactly, as `vpdpbusd` does lane by lane.
//!
//! Blocks of 32 (or 16) pixels by two (or one) tiles of 16 channels: four accumulator tiles
//! (`tmm0..tmm3`), two pixel tiles (`tmm4`, `tmm5`) and two weight tiles (`tmm6`, `tmm7`), all
//! 16 rows x 64 bytes, over the input's whole 64-level chunks. The sums go to memory, where the
//! VNNI kernel (`vnni::pointwise_amx`) adds the bias and the last `k % 64` inputs and
//! requantizes them. Everything else on this path is the VNNI kernels' (`isa::Vnni` with `amx`
//! set: the AMX path runs the VNNI path's block instances, which choose per call).
//!
//! Linux hands a process the AMX state only on request (`arch_prctl(ARCH_REQ_XCOMP_PERM)`);
//! `has_amx` makes it once. Tile instructions are inline assembly: Rust's AMX intrinsics are
//! not stable.

use super::isa::PwShape;
use super::vnni;
use super::{QConv, QShortcut};
use core::arch::asm;

/// Whether this CPU has AMX-TILE and AMX-INT8 and the OS lets this process use them (asked
/// for once; Linux with `std` only).
pub fn has_amx() -> bool {
    #[cfg(all(feature = "std", target_os = "linux"))]
    {
        static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AMX.get_or_init(|| {
            // CPUID.(7, 0):EDX bit 24 AMX-TILE, bit 25 AMX-INT8.
            let edx = core::arch::x86_64::__cpuid_count(7, 0).edx;
            if edx & (3 << 24) != 3 << 24 || !super::path::has_avx512_vnni() {
                return false;
            }
            const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
            const XFEATURE_XTILEDATA: i64 = 18;
            let rc: i64;
            // SAFETY: the arch_prctl system call (158 on x86-64) with plain integer
            // arguments; it touches no memory of this process.
            unsafe {
                asm!(
                    "syscall",
                    inlateout("rax") 158i64 => rc,
                    in("rdi") ARCH_REQ_XCOMP_PERM,
                    in("rsi") XFEATURE_XTILEDATA,
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack)
                );
            }
            rc == 0
        })
    }
    #[cfg(not(all(feature = "std", target_os = "linux")))]
    {
        false
    }
}

/// Palette 1, the eight tiles 16 rows x 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

static CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // bytes per row, little-endian u16
        c[48 + t] = 16; // rows
        t += 1;
    }
    TileConfig(c)
};

/// The accumulator tiles' sums of one block, `[channel tile][pixel][channel]`.
#[repr(C, align(64))]
pub(super) struct Sums([[[i32; 16]; 32]; 2]);

/// Loads `CONFIG` (which zeroes every tile).
///
/// # Safety
/// `has_amx()`.
#[inline]
unsafe fn configure() {
    // SAFETY: the caller's contract; the configuration is 64 readable bytes.
    unsafe { asm!("ldtilecfg [{0}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly)) }
}

/// Hands the tile state back.
///
/// # Safety
/// `has_amx()`.
#[inline]
unsafe fn release() {
    // SAFETY: the caller's contract.
    unsafe { asm!("tilerelease", options(nostack, nomem)) }
}

/// `PB` blocks of 16 pixels (rows of `k` levels from `x`) by `TB` weight tiles (`w[j]`, packed
/// `[k.div_ceil(4)][16][4]`) over the first `chunks * 64` inputs, into `sums` (the parts of
/// those blocks and tiles).
///
/// # Safety
/// `has_amx()`, `configure()`d on this thread; `x` holds `16 * PB` rows of `k >= 64 * chunks`
/// levels; each `w[j]` at least `16 * chunks` groups; `sums` is valid for writes.
#[inline]
pub(super) unsafe fn block<const PB: usize, const TB: usize>(
    x: *const u8,
    k: usize,
    chunks: usize,
    w: [*const i8; 2],
    sums: *mut Sums,
) {
    const { assert!(PB <= 2 && TB <= 2) };
    // SAFETY: every load reads 16 rows of 64 bytes inside the operands (the caller's contract);
    // stores write the 16 x 64 bytes of a `Sums` part.
    unsafe {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
        for c in 0..chunks {
            let (xa, wb) = (x.add(64 * c), 16 * 64 * c);
            asm!("tileloadd tmm4, [{0} + {1} * 1]", in(reg) xa, in(reg) k, options(nostack, readonly));
            asm!("tileloadd tmm6, [{0} + {1} * 1]", in(reg) w[0].add(wb), in(reg) 64usize, options(nostack, readonly));
            asm!("tdpbusd tmm0, tmm4, tmm6", options(nostack, nomem));
            if TB == 2 {
                asm!("tileloadd tmm7, [{0} + {1} * 1]", in(reg) w[1].add(wb), in(reg) 64usize, options(nostack, readonly));
                asm!("tdpbusd tmm1, tmm4, tmm7", options(nostack, nomem));
            }
            if PB == 2 {
                let xb = xa.add(16 * k);
                asm!("tileloadd tmm5, [{0} + {1} * 1]", in(reg) xb, in(reg) k, options(nostack, readonly));
                asm!("tdpbusd tmm2, tmm5, tmm6", options(nostack, nomem));
                if TB == 2 {
                    asm!("tdpbusd tmm3, tmm5, tmm7", options(nostack, nomem));
                }
            }
        }
        let s = sums.cast::<u8>();
        // Channel tile j, pixels 16i..: tile `tmm(2i + j)`.
        let (j1, p16) = (32 * 64, 16 * 64);
        asm!("tilestored [{0} + {1} * 1], tmm0", in(reg) s, in(reg) 64usize, options(nostack));
        if TB == 2 {
            asm!("tilestored [{0} + {1} * 1], tmm1", in(reg) s.add(j1), in(reg) 64usize, options(nostack));
        }
        if PB == 2 {
            asm!("tilestored [{0} + {1} * 1], tmm2", in(reg) s.add(p16), in(reg) 64usize, options(nostack));
            if TB == 2 {
                asm!("tilestored [{0} + {1} * 1], tmm3", in(reg) s.add(j1 + p16), in(reg) 64usize, options(nostack));
            }
        }
    }
}

/// `conv::pointwise`: where `allowed`, with AMX for the inputs' whole 64-level chunks of every
/// 16 pixels and VNNI for the rest; otherwise (or when the layer has no whole chunk or 16
/// pixels) VNNI alone (`vnni::pointwise_amx`). The same operands and results.
///
/// # Safety
/// The CPU has AVX-512F, BW, VL and VNNI, and with `allowed` `has_amx()`; operands as
/// `vnni::pointwise_amx`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn pointwise<S: PwShape>(
    x: &[u8],
    s: S,
    q: &QConv,
    res: Option<(&[u8], QShortcut)>,
    out: &mut [u8],
    allowed: bool,
) {
    let (k, n) = (s.k(), s.n());
    let amx = allowed && k >= 64 && out.len() / n >= 16;
    // SAFETY: the caller's contract.
    unsafe {
        if amx {
            configure();
        }
        vnni::pointwise_amx(x, s, q, res, out, amx);
        if amx {
            release();
        }
    }
}
