//! Multi-threaded entry points: each splits its step's output rows (or, for the classifier,
//! its output panels) across `Threads`. With no pool, or a pool of one, they are the serial
//! kernels, with no threading cost.

use crate::block::{BlockDims, BlockPtrs};
use crate::dispatch::{
    check, check_block, check_linear, check_pointwise, check_stem, fused_block, linear_dyn, linear_gemm, pointwise_dyn,
    pointwise_gemm, stem_dyn, BlockParams,
};
use crate::isa::{route, Cpu, Isa};
use crate::layout::NR;
use crate::threads::{share, SharedPtr, Threads};

use crate::isa::portable;
#[cfg(target_arch = "x86_64")]
use crate::isa::{avx2, avx512};

fn pool(threads: Option<&mut Threads>) -> Option<&mut Threads> {
    threads.filter(|t| t.count() > 1)
}

/// `stem`, rows split across `threads`.
pub fn par_stem<const H: usize, const W: usize, const CO: usize>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    let Some(t) = pool(threads) else { return stem_dyn(cpu, H, W, CO, x, w, b, out) };
    let (ho, wo) = check_stem(H, W, CO, x, w, b, out);
    let o = SharedPtr(out.as_mut_ptr());
    let n = t.count();
    t.run(&|i| {
        // SAFETY: lengths checked above; each thread writes only its own output rows.
        unsafe { route!(cpu, stem_rows(H, W, CO, wo, x.as_ptr(), w.as_ptr(), b.as_ptr(), o.get(), share(ho, n, i))) }
    });
}

/// `pointwise`, pixels split across `threads`.
#[allow(clippy::too_many_arguments)]
pub fn par_pointwise<const P: usize, const K: usize, const N: usize, const RELU: bool>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: Option<&[f32]>,
    out: &mut [f32],
) {
    let Some(t) = pool(threads) else { return pointwise_dyn(cpu, P, K, N, RELU, x, w, b, res, out) };
    check_pointwise(P, K, N, x, w, b, res, out);
    let o = SharedPtr(out.as_mut_ptr());
    let n = t.count();
    t.run(&|i| {
        let rows = share(P, n, i);
        if rows.is_empty() || N == 0 {
            return;
        }
        let g = pointwise_gemm(K, N, RELU, x, w, b, res, o.get(), rows);
        // SAFETY: in bounds by the checks above; each thread writes only its own pixels.
        unsafe { route!(cpu, gemm(&g)) }
    });
}

/// `linear`, output panels split across `threads`.
pub fn par_linear<const K: usize, const N: usize>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    let Some(t) = pool(threads) else { return linear_dyn(cpu, K, N, x, w, b, out) };
    check_linear(K, N, x, w, b, out);
    let o = SharedPtr(out.as_mut_ptr());
    let (n, panels) = (t.count(), N.div_ceil(NR));
    t.run(&|i| {
        let g = linear_gemm(K, N, x, w, b, o.get(), share(panels, n, i));
        if g.n == 0 {
            return;
        }
        // SAFETY: in bounds by the checks above; each thread writes only its own columns.
        unsafe { route!(cpu, gemv(&g)) }
    });
}

/// A fused block, output rows split across `threads`. Thread 0 uses `scratch`; thread `i > 0`
/// uses `extra[(i - 1) * stride..][..d.scratch_len()]`.
#[allow(clippy::too_many_arguments)]
pub fn par_block(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    d: &BlockDims,
    x: &[f32],
    y: &mut [f32],
    p: BlockParams<'_>,
    scratch: &mut [f32],
    extra: &mut [f32],
    stride: usize,
) {
    let Some(t) = pool(threads) else { return fused_block(cpu, d, x, y, p, scratch, 0..d.ho()) };
    let n = t.count();
    let ptrs0 = check_block(d, x, y, p, scratch, 0..d.ho());
    assert!(stride >= d.scratch_len(), "internal error: per-thread scratch too small");
    check("per-thread scratch", extra.len(), (n - 1) * stride);
    let (y, s0, ex) = (SharedPtr(ptrs0.y), SharedPtr(ptrs0.scratch), SharedPtr(extra.as_mut_ptr()));
    let ho = d.ho();
    // Borrow the whole struct: closures would otherwise capture its (non-Sync) fields.
    let ptrs0 = &ptrs0;
    t.run(&|i| {
        // SAFETY: operands checked by `check_block`; each thread writes its own output rows
        // and its own scratch (thread 0 the block's, thread i > 0 the i-th extra region).
        unsafe {
            let scratch = if i == 0 { s0.get() } else { ex.get().add((i - 1) * stride) };
            let ptrs = BlockPtrs { y: y.get(), scratch, ..*ptrs0 };
            route!(cpu, block(d, &ptrs, share(ho, n, i)))
        }
    });
}
