//! The entry points generated code calls, one per kind of step, with the step's shapes as
//! const generics or a `BlockShape` type. Each checks its operands once, then runs the
//! shape-constant kernel (or, when the `Cpu` asks for it, the run-time-shaped one) on its
//! output rows, split across `Threads` when a pool of more than one is given. With no pool, or
//! a pool of one, the calling thread runs all rows with no threading cost. Splits never change
//! the arithmetic of an output, so every thread count gives the same bits.

use crate::block::{BlockDims, BlockPart, BlockPtrs, BlockShape};
use crate::buffer::{split, Region};
use crate::dispatch::{
    check, check_block, check_dims, check_linear, check_pointwise, check_stem, linear_gemm, pointwise_gemm, size,
    BlockParams,
};
use crate::gemm::{units, Gemm, UNIT_ROWS};
use crate::isa::{route, Cpu};
use crate::layout::NR;
use crate::threads::{run_parts, share, SharedPtr, Threads};

#[cfg(target_arch = "aarch64")]
use crate::isa::neon;
use crate::isa::portable;
#[cfg(target_arch = "x86_64")]
use crate::isa::{avx2, avx512};

/// The stem (3x3 stride-2 convolution of the `H x W x 3` image to `CO` channels, BN and ReLU6
/// fused; TF's "SAME" padding if `TF`, else PyTorch's), output rows split across `threads`.
pub fn par_stem<const H: usize, const W: usize, const CO: usize, const TF: bool>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    let (ho, wo) = check_stem(H, W, CO, x, w, b, out);
    let padding = crate::reference::Padding::of_tf(TF);
    let pad = (padding.before(H, 2), padding.before(W, 2));
    let o = SharedPtr(out.as_mut_ptr());
    run_parts(threads, &|i, n| {
        let rows = share(ho, n, i);
        let (x, w, b, o) = (x.as_ptr(), w.as_ptr(), b.as_ptr(), o.get());
        // SAFETY: lengths checked above; each thread writes only its own output rows.
        unsafe {
            if cpu.specialized() {
                route!(cpu, stem_rows_hwc::<H, W, CO, TF>(x, w, b, o, rows))
            } else {
                route!(cpu, stem_rows(H, W, CO, wo, pad, x, w, b, o, rows))
            }
        }
    });
}

/// 1x1 convolution of `P` pixels from `K` to `N` channels; `RELU` fuses ReLU6; `res` is added
/// after the activation. Pixels split across `threads`, or, with fewer than two register tiles
/// of pixels a thread, units of pixels and output channels (`gemm::units`), so that threads
/// share out the weights instead of each reading all of them.
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
    check_pointwise(P, K, N, x, w, b, res, out);
    let o = SharedPtr(out.as_mut_ptr());
    run_parts(threads, &|i, n| {
        if N == 0 || P == 0 {
            return;
        }
        if pointwise_splits_units(P, n) {
            let g = pointwise_gemm(K, N, RELU, x, w, b, res, o.get(), 0..P);
            // SAFETY: in bounds by the checks above; each thread writes only its own units.
            unsafe { gemm_kn_units_on::<P, K, N, RELU>(cpu, &g, share(units(P, N), n, i)) };
            return;
        }
        let rows = share(P, n, i);
        if rows.is_empty() {
            return;
        }
        let g = pointwise_gemm(K, N, RELU, x, w, b, res, o.get(), rows);
        // SAFETY: in bounds by the checks above; each thread writes only its own pixels.
        unsafe { gemm_kn::<P, K, N, RELU>(cpu, &g) }
    });
}

/// Whether `threads` threads split a 1x1 convolution of `pixels` pixels by units rather than
/// by pixels: when a thread would get fewer than two register tiles of pixels.
pub fn pointwise_splits_units(pixels: usize, threads: usize) -> bool {
    threads > 1 && pixels < 2 * UNIT_ROWS * threads
}

/// # Safety
/// As the kernels' `gemm`: `g` valid, with `K` inputs and `N` outputs a pixel, of a layer of
/// `P` pixels.
unsafe fn gemm_kn<const P: usize, const K: usize, const N: usize, const RELU: bool>(cpu: Cpu, g: &Gemm) {
    // SAFETY: forwarded contract; `cpu` proves the ISA.
    unsafe {
        if cpu.specialized() {
            route!(cpu, gemm_kn::<P, K, N, RELU>(g))
        } else {
            route!(cpu, gemm(g))
        }
    }
}

/// Mean over `HW` pixels of each of `C` channels.
pub fn avg_pool<const HW: usize, const C: usize>(cpu: Cpu, x: &[f32], out: &mut [f32]) {
    check_dims("pool", [HW, C]);
    check("pool input", x.len(), size([HW, C]));
    check("pool output", out.len(), C);
    let (x, out) = (x.as_ptr(), out.as_mut_ptr());
    // SAFETY: lengths checked above; `cpu` proves the ISA.
    unsafe {
        if cpu.specialized() {
            route!(cpu, avg_pool_hwc::<HW, C>(x, out))
        } else {
            route!(cpu, avg_pool(HW, C, x, out))
        }
    }
}

/// Fully connected layer from `K` to `N` (weights packed like a 1x1 convolution), output
/// panels split across `threads`.
pub fn par_linear<const K: usize, const N: usize>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    check_linear(K, N, x, w, b, out);
    let o = SharedPtr(out.as_mut_ptr());
    let panels = N.div_ceil(NR);
    run_parts(threads, &|i, n| {
        let g = linear_gemm(K, N, x, w, b, o.get(), share(panels, n, i));
        if g.n == 0 {
            return;
        }
        // SAFETY: in bounds by the checks above; each thread writes only its own columns.
        unsafe {
            if cpu.specialized() {
                route!(cpu, gemv_k::<K>(&g))
            } else {
                route!(cpu, gemv(&g))
            }
        }
    });
}

/// The classifier over a batch of `images`: image `i`'s `K` features at
/// `x[offset + i * stride..]`, its `N` logits at `out[i * N..]`. One matrix product, so the
/// weights are read once for the whole batch.
#[allow(clippy::too_many_arguments)]
pub fn linear_batch<const K: usize, const N: usize>(
    cpu: Cpu,
    x: &[f32],
    offset: usize,
    stride: usize,
    images: usize,
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    if images == 0 || N == 0 {
        return;
    }
    let last = size([images - 1, stride]).checked_add(offset).and_then(|v| v.checked_add(K));
    check("linear batch input", x.len(), last.expect("internal error: a shape overflows usize"));
    check_linear(K, N, &x[offset..], w, b, &out[..N]);
    check("linear batch output", out.len(), size([images, N]));
    let g = Gemm {
        m: images,
        k: K,
        n: N,
        a: x[offset..].as_ptr(),
        lda: stride,
        w: w.as_ptr(),
        bias: b.as_ptr(),
        res: core::ptr::null(),
        ldr: 0,
        out: out.as_mut_ptr(),
        ldo: N,
        relu: false,
    };
    // SAFETY: lengths checked above (rows `stride` apart, each `K` long); `cpu` proves the ISA.
    unsafe {
        if cpu.specialized() {
            route!(cpu, gemm_rows_kn::<K, N>(&g))
        } else {
            route!(cpu, gemm(&g))
        }
    }
}

/// The fused block `B` split across `threads` (by output rows, or by channels where
/// `splits_channels`; see `block_on`). Thread 0 uses `scratch`; thread
/// `i > 0` uses `extra[(i - 1) * stride..][..B::DIMS.scratch_len()]`.
#[allow(clippy::too_many_arguments)]
pub fn par_block<B: BlockShape>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[f32],
    y: &mut [f32],
    p: BlockParams<'_>,
    scratch: &mut [f32],
    extra: &mut [f32],
    stride: usize,
) {
    let d = &B::DIMS;
    block_on(threads, d, x, y, p, scratch, extra, stride, &|ptrs, part| {
        // SAFETY: operands checked, parts ordered by `block_on`; `cpu` proves the ISA.
        unsafe {
            if cpu.specialized() {
                route!(cpu, block::<B>(ptrs, part))
            } else {
                route!(cpu, block_dyn(d, ptrs, part))
            }
        }
    });
}

/// `par_block` with run-time shapes `d` (the run-time-shaped kernels; tests and benchmarks).
#[allow(clippy::too_many_arguments)]
pub fn par_block_dyn(
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
    block_on(threads, d, x, y, p, scratch, extra, stride, &|ptrs, part| {
        // SAFETY: operands checked, parts ordered by `block_on`; `cpu` proves the ISA.
        unsafe { route!(cpu, block_dyn(d, ptrs, part)) }
    });
}

/// Check a block's operands, then run `kernel` on each thread's part: with one thread, every
/// output row; on a pool, for a block that `splits_channels` on it, its expanded channels and then
/// (after every thread has finished those) its project tiles, in the block's shared scratch;
/// otherwise each thread's output rows, each with its own scratch.
#[allow(clippy::too_many_arguments)]
fn block_on(
    threads: Option<&mut Threads>,
    d: &BlockDims,
    x: &[f32],
    y: &mut [f32],
    p: BlockParams<'_>,
    scratch: &mut [f32],
    extra: &mut [f32],
    stride: usize,
    kernel: &(dyn Fn(&BlockPtrs, BlockPart) + Sync),
) {
    let ho = d.ho();
    let ptrs0 = check_block(d, x, y, p, scratch, 0..ho);
    let Some(t) = threads.filter(|t| t.count() > 1) else { return kernel(&ptrs0, BlockPart::Rows(0..ho)) };
    let n = t.count();
    // Borrow the whole struct: closures would otherwise capture its (non-Sync) fields.
    let ptrs0 = &ptrs0;
    if d.splits_channels(n) {
        let (panels, tiles) = d.channel_units();
        // Two parallel regions: `run_parts` returns only when every thread is done, so every
        // expanded channel is in the shared buffers before any project tile reads them.
        t.run(&|i| kernel(ptrs0, BlockPart::Hidden(share(panels, n, i))));
        t.run(&|i| kernel(ptrs0, BlockPart::Project(share(tiles, n, i))));
        return;
    }
    assert!(stride >= d.scratch_len(), "internal error: per-thread scratch too small");
    check("per-thread scratch", extra.len(), size([n - 1, stride]));
    let (y, s0, ex) = (SharedPtr(ptrs0.y), SharedPtr(ptrs0.scratch), SharedPtr(extra.as_mut_ptr()));
    t.run(&|i| {
        // SAFETY: thread 0 uses the block's scratch, thread i > 0 the i-th extra region, which
        // exists (checked above); each thread writes its own output rows.
        let scratch = if i == 0 { s0.get() } else { unsafe { ex.get().add((i - 1) * stride) } };
        let ptrs = BlockPtrs { y: y.get(), scratch, ..*ptrs0 };
        kernel(&ptrs, BlockPart::Rows(share(ho, n, i)));
    });
}

/// Images a batched block runs at once (its operands live on the stack).
const BATCH_GROUP: usize = 8;

/// The block `B` over a batch: image `i`'s arena is `all[i * stride..][..stride]`, holding the
/// block's input, output and scratch at the regions `x`, `y` and `scratch` (the model's memory
/// plan). Whole-map blocks run groups of images with weight panels outermost
/// (`block::block_batch`); the others image by image, as `par_block` on one thread.
#[allow(clippy::too_many_arguments)]
pub fn block_batch<B: BlockShape>(
    cpu: Cpu,
    all: &mut [f32],
    stride: usize,
    images: usize,
    x: Region,
    y: Region,
    scratch: Region,
    p: BlockParams<'_>,
) {
    let d = &B::DIMS;
    check("batch arena", all.len(), size([images, stride]));
    let all = &mut all[..images * stride];
    if !d.whole_map() {
        for a in all.chunks_exact_mut(stride) {
            let [src, dst, scr] = split(a, [x, y, scratch]);
            par_block::<B>(None, cpu, src, dst, p, scr, &mut [], 0);
        }
        return;
    }
    for group in all.chunks_mut(BATCH_GROUP * stride) {
        // Each image's arena is a disjoint `&mut`; within it, the plan's regions are disjoint.
        let mut ptrs: [Option<BlockPtrs>; BATCH_GROUP] = [None; BATCH_GROUP];
        for (slot, a) in ptrs.iter_mut().zip(group.chunks_exact_mut(stride)) {
            let [src, dst, scr] = split(a, [x, y, scratch]);
            *slot = Some(check_block(d, src, dst, p, scr, 0..d.ho()));
        }
        let count = group.len() / stride;
        let ptrs: [BlockPtrs; BATCH_GROUP] = core::array::from_fn(|i| ptrs[i.min(count - 1)].expect("checked above"));
        let ptrs = &ptrs[..count];
        // SAFETY: every image's operands checked above, the images' arenas disjoint; `cpu`
        // proves the ISA.
        unsafe {
            if cpu.specialized() {
                route!(cpu, block_batch::<B>(ptrs))
            } else {
                route!(cpu, block_batch_dyn(d, ptrs))
            }
        }
    }
}

/// # Safety
/// As the kernels' `gemm_units`: `g` valid, with `K` inputs and `N` outputs a pixel.
unsafe fn gemm_kn_units_on<const P: usize, const K: usize, const N: usize, const RELU: bool>(
    cpu: Cpu,
    g: &Gemm,
    part: core::ops::Range<usize>,
) {
    // SAFETY: forwarded contract; `cpu` proves the ISA.
    unsafe {
        if cpu.specialized() {
            route!(cpu, gemm_kn_units::<P, K, N, RELU>(g, part))
        } else {
            route!(cpu, gemm_units(g, part))
        }
    }
}
