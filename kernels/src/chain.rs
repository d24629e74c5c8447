//! Two consecutive fused blocks run as one step, so the tensor between them never exists in
//! full (row streaming across blocks, as in MCUNetV2's patch-based inference, for one pair):
//! the second block's output rows are computed in chunks of `chunk` rows; before each chunk,
//! the first block computes just the rows of its output that the chunk reads into a window, and
//! the second block reads them from there. A window overlaps the next one by the 3x3 halo (one
//! row at stride 2, two at stride 1), which the first block recomputes: that is the price, and
//! `chunk` bounds it. Each output row's arithmetic is the same as in two separate steps, so the
//! results are identical to them, on any thread count (threads split the second block's rows,
//! each with its own window and scratch).

use crate::block::{BlockDims, BlockPart, BlockPtrs, BlockShape};
use crate::dispatch::{block_params, check, size, BlockParams};
use crate::isa::{route, Cpu};
use crate::threads::{share, SharedPtr, Threads};

#[cfg(target_arch = "aarch64")]
use crate::isa::neon;
use crate::isa::portable;
#[cfg(target_arch = "x86_64")]
use crate::isa::{avx2, avx512};

/// Rows of the first block's output (`b`'s input) a window holds for chunks of `chunk` rows.
pub const fn window_rows(b: &BlockDims, chunk: usize) -> usize {
    let rows = chunk.saturating_sub(1).saturating_mul(b.stride).saturating_add(3);
    if rows < b.h {
        rows
    } else {
        b.h
    }
}

/// Floats of one window.
pub const fn window_len(b: &BlockDims, chunk: usize) -> usize {
    window_rows(b, chunk) * b.w * b.cin
}

/// Floats of scratch one thread needs: its window, then one block scratch the two blocks take
/// turns with.
pub const fn chain_scratch_len(a: &BlockDims, b: &BlockDims, chunk: usize) -> usize {
    let (sa, sb) = (a.scratch_len(), b.scratch_len());
    window_len(b, chunk) + if sa > sb { sa } else { sb }
}

/// The rows `lo..hi` of `b`'s input that its output rows `r0..r1` read.
pub const fn input_rows(b: &BlockDims, r0: usize, r1: usize) -> (usize, usize) {
    let pt = b.pad().0;
    let lo = (r0 * b.stride).saturating_sub(pt);
    let hi = (r1 - 1) * b.stride + 3 - pt;
    (lo, if hi < b.h { hi } else { b.h })
}

/// The chain `A` then `B` (`B` reads exactly `A`'s output): `x` is `A`'s input (an image when
/// `A` has a fused stem), `y` is `B`'s output. Thread 0 uses `scratch`; thread `i > 0` uses
/// `extra[(i - 1) * stride..][..chain_scratch_len(..)]`.
#[allow(clippy::too_many_arguments)]
pub fn par_chain<A: BlockShape, B: BlockShape, const CHUNK: usize>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    y: &mut [f32],
    pa: BlockParams<'_>,
    pb: BlockParams<'_>,
    scratch: &mut [f32],
    extra: &mut [f32],
    stride: usize,
) {
    let (a, b) = (&A::DIMS, &B::DIMS);
    chain_on(threads, a, b, CHUNK, x, y, pa, pb, scratch, extra, stride, &|d, ptrs, rows| {
        // SAFETY: operands checked by `chain_on`; `cpu` proves the ISA; `d` is `A::DIMS` or
        // `B::DIMS`, matching the kernel instantiated.
        unsafe {
            match (cpu.specialized(), core::ptr::eq(d, a)) {
                (true, true) => route!(cpu, block::<A>(ptrs, BlockPart::Rows(rows))),
                (true, false) => route!(cpu, block::<B>(ptrs, BlockPart::Rows(rows))),
                (false, _) => route!(cpu, block_dyn(d, ptrs, BlockPart::Rows(rows))),
            }
        }
    });
}

/// `par_chain` with run-time shapes (the run-time-shaped kernels; tests).
#[allow(clippy::too_many_arguments)]
pub fn par_chain_dyn(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    a: &BlockDims,
    b: &BlockDims,
    chunk: usize,
    x: &[f32],
    y: &mut [f32],
    pa: BlockParams<'_>,
    pb: BlockParams<'_>,
    scratch: &mut [f32],
    extra: &mut [f32],
    stride: usize,
) {
    chain_on(threads, a, b, chunk, x, y, pa, pb, scratch, extra, stride, &|d, ptrs, rows| {
        // SAFETY: operands checked by `chain_on`; `cpu` proves the ISA.
        unsafe { route!(cpu, block_dyn(d, ptrs, BlockPart::Rows(rows))) }
    });
}

/// Check a chain's operands, then run each thread's output rows of `b` chunk by chunk:
/// `kernel(a, ..)` for the window, `kernel(b, ..)` for the chunk.
#[allow(clippy::too_many_arguments)]
fn chain_on(
    threads: Option<&mut Threads>,
    a: &BlockDims,
    b: &BlockDims,
    chunk: usize,
    x: &[f32],
    y: &mut [f32],
    pa: BlockParams<'_>,
    pb: BlockParams<'_>,
    scratch: &mut [f32],
    extra: &mut [f32],
    stride: usize,
    kernel: &(dyn Fn(&BlockDims, &BlockPtrs, core::ops::Range<usize>) + Sync),
) {
    assert!(chunk >= 1, "internal error: empty chain chunk");
    // Shapes first (`block_params` validates them), so that the lengths below cannot wrap.
    let (ptrs_a, ptrs_b) = (block_params(a, pa), block_params(b, pb));
    assert!(a.ho() == b.h && a.wo() == b.w && a.cout == b.cin && b.stem.is_none(), "internal error: bad chain");
    check("chain input", x.len(), a.x_len());
    check("chain output", y.len(), b.y_len());
    // A window is at most `b`'s input, so this sum of validated lengths cannot wrap.
    let per_thread = chain_scratch_len(a, b, chunk);
    check("chain scratch", scratch.len(), per_thread);
    let ptrs_a = BlockPtrs { x: x.as_ptr(), ..ptrs_a };
    // Borrow the whole structs: closures would otherwise capture their (non-Sync) fields.
    let (ptrs_a, ptrs_b) = (&ptrs_a, &ptrs_b);
    let (y, s0) = (SharedPtr(y.as_mut_ptr()), SharedPtr(scratch.as_mut_ptr()));
    let run_rows = |scratch: *mut f32, rows: core::ops::Range<usize>| {
        let window = scratch;
        // SAFETY: the window is followed by a block scratch in the thread's region.
        let block_scratch = unsafe { scratch.add(window_len(b, chunk)) };
        let mut r0 = rows.start;
        while r0 < rows.end {
            let r1 = r0.saturating_add(chunk).min(rows.end);
            let (lo, hi) = input_rows(b, r0, r1);
            let pa = BlockPtrs { y: window, y_row0: lo, scratch: block_scratch, ..*ptrs_a };
            kernel(a, &pa, lo..hi);
            let pb = BlockPtrs { x: window, x_row0: lo, y: y.get(), scratch: block_scratch, ..*ptrs_b };
            kernel(b, &pb, r0..r1);
            r0 = r1;
        }
    };
    let ho = b.ho();
    match threads.filter(|t| t.count() > 1) {
        None => run_rows(s0.get(), 0..ho),
        Some(t) => {
            let n = t.count();
            assert!(stride >= per_thread, "internal error: per-thread scratch too small");
            check("per-thread scratch", extra.len(), size([n - 1, stride]));
            let ex = SharedPtr(extra.as_mut_ptr());
            t.run(&|i| {
                // SAFETY: thread i > 0 uses the i-th extra region, which exists (checked above);
                // threads write disjoint output rows.
                let scratch = if i == 0 { s0.get() } else { unsafe { ex.get().add((i - 1) * stride) } };
                run_rows(scratch, share(ho, n, i));
            });
        }
    }
}
