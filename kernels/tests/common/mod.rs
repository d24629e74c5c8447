//! Helpers shared by the kernel tests.

use mobilenet_kernels::{Cpu, Isa};

/// Every kernel path this CPU runs (the portable one always among them).
pub fn cpus() -> Vec<Cpu> {
    let cpus: Vec<Cpu> = Isa::supported().into_iter().filter_map(Cpu::new).collect();
    assert!(cpus.iter().any(|c| c.isa() == Isa::Portable));
    cpus
}

/// `len` deterministic values in [-2, 2) from `seed` (xorshift).
pub fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}
