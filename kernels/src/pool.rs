//! Global average pooling, vectorised over channels.

use crate::simd::Simd;

/// Mean over `hw` pixels of each of `c` channels.
///
/// # Safety
/// `x` holds `hw * c` floats, `out` `c`; the ISA of `S` is present.
#[inline(always)]
pub(crate) unsafe fn avg_pool<S: Simd>(hw: usize, c: usize, x: *const f32, out: *mut f32) {
    let scale = 1.0 / hw as f32;
    let mut c0 = 0;
    while c0 < c {
        let lanes = (c - c0).min(S::L);
        // SAFETY: offsets stay inside `x` and `out` by the contract.
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
