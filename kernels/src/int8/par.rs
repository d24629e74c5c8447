//! The int8 entry points generated code calls (the fused block's parts they run are in
//! `block`). Each checks its operands once, then runs its kernel on its output rows, split
//! across `Threads` (rows of the stem and of blocks, pixels of 1x1 layers, tiles of 16 classes
//! of the classifier; blocks of few rows and many channels by groups of 64 expanded channels
//! and then by pixels, `splits_channels`). Splits never change an output's arithmetic: every
//! thread count gives the same bits.

#[cfg(target_arch = "x86_64")]
use super::block::portable_block;
use super::block::{block_io, check_block, splits_channels, Const, Dims, Io};
use super::conv::{avg_pool, STEM_K};
#[cfg(target_arch = "x86_64")]
use super::isa::{Avx2, AvxVnni, Vnni};
use super::isa::{Ops, Plain, PwDims, PwShape};
use super::path::{path, Path};
use super::{BlockInput, Image, QBlockParams, QConv, QLinear, QShortcut};
use crate::block::{BlockDims, BlockShape};
use crate::dispatch::{check, check_dims, size};
use crate::isa::Cpu;
use crate::reference::Padding;
use crate::threads::{run_parts, share, SharedPtr, Threads};
use core::marker::PhantomData;
use core::ops::Range;

/// A standalone 1x1 layer's constant shapes (`par_pointwise8`).
#[derive(Clone, Copy)]
struct ConstPw<const K: usize, const N: usize>;

impl<const K: usize, const N: usize> PwShape for ConstPw<K, N> {
    #[inline(always)]
    fn k(self) -> usize {
        K
    }

    #[inline(always)]
    fn n(self) -> usize {
        N
    }
}

/// The kernels compiled with a path's target features.
macro_rules! isa_entries {
    ($module:ident, $features:literal, $ops:ty) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use super::*;

            /// # Safety
            /// The CPU has the module's features; operands as `block_io`.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn block<D: Dims>(o: $ops, d: D, p: &QBlockParams, x: BlockInput, io: Io) {
                block_io(o, d, p, x, io)
            }

            /// # Safety
            /// The CPU has the module's features; operands as `stem_rows`.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(super) unsafe fn stem(
                o: $ops,
                img: Image,
                h: usize,
                w: usize,
                co: usize,
                pad: (usize, usize),
                q: &QConv,
                out: &mut [u8],
                rows: Range<usize>,
            ) {
                stem_rows(o, img, h, w, co, pad, q, out, rows)
            }

            /// # Safety
            /// The CPU has the module's features; operands as `Ops::pointwise`.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn pointwise<S: PwShape>(
                o: $ops,
                x: &[u8],
                s: S,
                q: &QConv,
                res: Option<(&[u8], QShortcut)>,
                out: &mut [u8],
            ) {
                o.pointwise(x, s, q, res, out)
            }

            /// # Safety
            /// The CPU has the module's features; operands as `Ops::linear`.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn linear(
                o: $ops,
                x: &[u8],
                k: usize,
                classes: Range<usize>,
                q: &QLinear,
                out: &mut [f32],
            ) {
                o.linear(x, k, classes, q, out)
            }
        }
    };
}

isa_entries!(on_avx2, "avx2,fma", super::super::isa::Avx2);
isa_entries!(on_avxvnni, "avx2,fma,avxvnni", super::super::isa::AvxVnni);
// Also the AMX path's (`Vnni { amx: true }`): one instance of each block for both.
isa_entries!(on_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma", super::super::isa::Vnni);

/// Stem output rows `rows`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn stem_rows<O: Ops>(
    o: O,
    img: Image,
    h: usize,
    w: usize,
    co: usize,
    (pt, pl): (usize, usize),
    q: &QConv,
    out: &mut [u8],
    rows: Range<usize>,
) {
    let row = ((w - 1) / 2 + 1) * co;
    for (oy, dst) in rows.clone().zip(out.chunks_exact_mut(row)) {
        o.stem_row(img, h, w, PwDims { k: STEM_K, n: co }, 2 * oy + 1 - pt, pl, q, dst);
    }
}

/// The stem (3x3 stride-2 convolution of the `H x W x 3` image to `CO` channels, ReLU6; TF's
/// padding if `TF`), output rows split across `threads`.
pub fn par_stem8<const H: usize, const W: usize, const CO: usize, const TF: bool>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    img: Image<'_>,
    q: QConv<'_>,
    out: &mut [u8],
) {
    stem8_dyn(threads, cpu, H, W, CO, Padding::of_tf(TF), img, q, out);
}

/// `par_stem8` with run-time shapes (tests; the const-generic form calls it: its rows run in
/// `#[target_feature]` entry points that take shapes as values).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn stem8_dyn(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    h: usize,
    w: usize,
    co: usize,
    padding: Padding,
    img: Image<'_>,
    q: QConv<'_>,
    out: &mut [u8],
) {
    check_dims("stem", [h, w, co]);
    let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
    let pad = (padding.before(h, 2), padding.before(w, 2));
    check("stem input", img.len(), size([h, w, 3]));
    q.check_pointwise("stem", 27, co);
    check("stem output", out.len(), size([ho, wo, co]));
    let o = SharedPtr(out.as_mut_ptr());
    let path = path(cpu);
    run_parts(threads, &|i, n| {
        let rows = share(ho, n, i);
        // SAFETY: the rows lie in `out` (checked above); each thread writes its own rows.
        let out = unsafe { o.part(rows.start * wo * co, rows.len() * wo * co) };
        match path {
            Path::Portable => stem_rows(Plain, img, h, w, co, pad, &q, out, rows),
            // SAFETY: `path` found the features.
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => unsafe { on_avx2::stem(Avx2, img, h, w, co, pad, &q, out, rows) },
            // SAFETY: `path` found the features.
            #[cfg(target_arch = "x86_64")]
            Path::AvxVnni => unsafe { on_avxvnni::stem(AvxVnni, img, h, w, co, pad, &q, out, rows) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Path::Vnni => unsafe { on_vnni::stem(Vnni { amx: false }, img, h, w, co, pad, &q, out, rows) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Path::Amx => unsafe { on_vnni::stem(Vnni { amx: true }, img, h, w, co, pad, &q, out, rows) },
        }
    });
}

/// The stem's output as a new buffer, for `forward_inspect` when the plan fuses the stem into
/// the first block. Allocates; `forward` never calls it.
#[cfg(feature = "std")]
pub fn stem8_output(
    h: usize,
    w: usize,
    co: usize,
    padding: Padding,
    img: Image<'_>,
    q: QConv<'_>,
) -> std::vec::Vec<u8> {
    let ho = (h - 1) / 2 + 1;
    let mut out = std::vec![0; ho * ((w - 1) / 2 + 1) * co];
    let pad = (padding.before(h, 2), padding.before(w, 2));
    stem_rows(Plain, img, h, w, co, pad, &q, &mut out, 0..ho);
    out
}

/// A 1x1 convolution of `P` pixels, `K` channels to `N` (the shortcut's levels added when
/// given), pixels split across `threads`. With `cpu.specialized()`, on a kernel instance whose
/// `K` and `N` are constants; otherwise on the path's one run-time-shaped instance.
pub fn par_pointwise8<const P: usize, const K: usize, const N: usize>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[u8],
    q: QConv<'_>,
    shortcut: Option<(&[u8], QShortcut<'_>)>,
    out: &mut [u8],
) {
    if cpu.specialized() {
        pointwise8_with(threads, cpu, P, ConstPw::<K, N>, x, q, shortcut, out);
    } else {
        pointwise8_with(threads, cpu, P, PwDims { k: K, n: N }, x, q, shortcut, out);
    }
}

/// `par_pointwise8` with run-time shapes (tests; the const-generic form calls it, as
/// `stem8_dyn`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn pointwise8_dyn(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    pixels: usize,
    k: usize,
    n: usize,
    x: &[u8],
    q: QConv<'_>,
    shortcut: Option<(&[u8], QShortcut<'_>)>,
    out: &mut [u8],
) {
    pointwise8_with(threads, cpu, pixels, PwDims { k, n }, x, q, shortcut, out);
}

/// `par_pointwise8` and `pointwise8_dyn`, on a kernel instance for `S`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pointwise8_with<S: PwShape + Sync>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    pixels: usize,
    s: S,
    x: &[u8],
    q: QConv<'_>,
    shortcut: Option<(&[u8], QShortcut<'_>)>,
    out: &mut [u8],
) {
    let (k, n) = (s.k(), s.n());
    check_dims("pointwise", [k, n]);
    check("pointwise input", x.len(), size([pixels, k]));
    q.check_pointwise("pointwise", k, n);
    check("pointwise output", out.len(), size([pixels, n]));
    if let Some((r, s)) = shortcut {
        check("pointwise shortcut", r.len(), size([pixels, n]));
        check("pointwise shortcut multipliers", s.m.len(), n.div_ceil(16) * 16);
    }
    let o = SharedPtr(out.as_mut_ptr());
    let path = path(cpu);
    run_parts(threads, &|i, parts| {
        let px = share(pixels, parts, i);
        if px.is_empty() {
            return;
        }
        // SAFETY: the pixels lie in `out` (checked above); each thread writes its own.
        let out = unsafe { o.part(px.start * n, px.len() * n) };
        let res = shortcut.map(|(r, s)| (&r[px.start * n..px.end * n], s));
        let x = &x[px.start * k..px.end * k];
        match path {
            Path::Portable => Plain.pointwise(x, PwDims { k, n }, &q, res, out),
            // SAFETY: `path` found the features.
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => unsafe { on_avx2::pointwise(Avx2, x, PwDims { k, n }, &q, res, out) },
            // SAFETY: `path` found the features.
            #[cfg(target_arch = "x86_64")]
            Path::AvxVnni => unsafe { on_avxvnni::pointwise(AvxVnni, x, s, &q, res, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Path::Vnni => unsafe { on_vnni::pointwise(Vnni { amx: false }, x, s, &q, res, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Path::Amx => unsafe { on_vnni::pointwise(Vnni { amx: true }, x, s, &q, res, out) },
        }
    });
}

/// Global average pooling of `HW` pixels of `C` channels.
pub fn avg_pool8<const HW: usize, const C: usize>(_cpu: Cpu, x: &[u8], out: &mut [u8]) {
    avg_pool8_dyn(HW, C, x, out);
}

/// `avg_pool8` with run-time shapes (tests).
#[inline(always)]
pub fn avg_pool8_dyn(hw: usize, c: usize, x: &[u8], out: &mut [u8]) {
    check_dims("pool", [hw, c]);
    check("pool input", x.len(), size([hw, c]));
    check("pool output", out.len(), c);
    avg_pool(&x[..hw * c], c, out);
}

/// The classifier, `K` features to `N` f32 logits, classes split across `threads`.
pub fn par_linear8<const K: usize, const N: usize>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: &[u8],
    q: QLinear<'_>,
    logits: &mut [f32],
) {
    linear8_dyn(threads, cpu, K, N, x, q, logits);
}

/// `par_linear8` with run-time shapes (tests).
#[inline(always)]
pub fn linear8_dyn(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    k: usize,
    n: usize,
    x: &[u8],
    q: QLinear<'_>,
    logits: &mut [f32],
) {
    check_dims("linear", [k, n]);
    let tiles = n.div_ceil(16);
    check("linear input", x.len(), k);
    check("linear weights", q.weight.len(), size([tiles, k.div_ceil(4), 64]));
    check("linear bias", q.bias.len(), tiles * 16);
    check("linear scales", q.scales.len(), tiles * 16);
    check("logits", logits.len(), n);
    let o = SharedPtr(logits.as_mut_ptr());
    let path = path(cpu);
    run_parts(threads, &|i, parts| {
        // Whole tiles of 16 classes to each thread.
        let cls = share(tiles, parts, i);
        let cls = cls.start * 16..(cls.end * 16).min(n);
        if cls.is_empty() {
            return;
        }
        // SAFETY: the classes lie in `logits` (checked above); each thread writes its own.
        let out = unsafe { o.part(cls.start, cls.len()) };
        match path {
            Path::Portable => Plain.linear(x, k, cls, &q, out),
            // SAFETY: `path` found the features.
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => unsafe { on_avx2::linear(Avx2, x, k, cls, &q, out) },
            // SAFETY: `path` found the features.
            #[cfg(target_arch = "x86_64")]
            Path::AvxVnni => unsafe { on_avxvnni::linear(AvxVnni, x, k, cls, &q, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Path::Vnni => unsafe { on_vnni::linear(Vnni { amx: false }, x, k, cls, &q, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Path::Amx => unsafe { on_vnni::linear(Vnni { amx: true }, x, k, cls, &q, out) },
        }
    });
}

/// The fused block `B`, output rows split across `threads`. Thread 0 uses `scratch`; thread
/// `i > 0` uses `extra[(i - 1) * stride..][..B::DIMS.scratch_len()]` (bytes). With
/// `cpu.specialized()`, the band loop and its 1x1, depthwise and stem kernels are instances
/// whose shapes are `B`'s constants; otherwise the path's run-time-shaped instances (the debug
/// path and the A/B baseline). Both give the same bits.
#[allow(clippy::too_many_arguments)]
pub fn par_block8<B: BlockShape>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    x: BlockInput<'_>,
    y: &mut [u8],
    p: QBlockParams<'_>,
    scratch: &mut [u8],
    extra: &mut [u8],
    stride: usize,
) {
    if cpu.specialized() {
        block_on(threads, cpu, Const::<B>(PhantomData), x, y, p, scratch, extra, stride);
    } else {
        block_on(threads, cpu, B::DIMS, x, y, p, scratch, extra, stride);
    }
}

/// `par_block8` with run-time shapes (tests).
#[allow(clippy::too_many_arguments)]
pub fn block8_dyn(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    d: &BlockDims,
    x: BlockInput<'_>,
    y: &mut [u8],
    p: QBlockParams<'_>,
    scratch: &mut [u8],
    extra: &mut [u8],
    stride: usize,
) {
    block_on(threads, cpu, *d, x, y, p, scratch, extra, stride);
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block_on<D: Dims>(
    threads: Option<&mut Threads>,
    cpu: Cpu,
    dims: D,
    x: BlockInput<'_>,
    y: &mut [u8],
    p: QBlockParams<'_>,
    scratch: &mut [u8],
    extra: &mut [u8],
    stride: usize,
) {
    let d = &dims.get();
    check_block(d, &x, y, &p, scratch);
    let (ho, row) = (d.ho(), d.wo() * d.cout);
    let (y, s0, ex) = (SharedPtr(y.as_mut_ptr()), SharedPtr(scratch.as_mut_ptr()), SharedPtr(extra.as_mut_ptr()));
    let need = d.scratch_len();
    let count = threads.as_ref().map_or(1, |t| t.count());
    if count > 1 {
        assert!(stride >= need, "internal error: per-thread scratch too small");
        check("per-thread scratch", extra.len(), size([count - 1, stride]));
    }
    let path = path(cpu);
    let part = |io: Io| match path {
        #[cfg(target_arch = "x86_64")]
        Path::Portable => portable_block(dims.get(), &p, x, io),
        #[cfg(not(target_arch = "x86_64"))]
        Path::Portable => block_io(Plain, dims, &p, x, io),
        // SAFETY: `path` found the features.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { on_avx2::block(Avx2, dims.get(), &p, x, io) },
        // SAFETY: `path` found the features.
        #[cfg(target_arch = "x86_64")]
        Path::AvxVnni => unsafe { on_avxvnni::block(AvxVnni, dims, &p, x, io) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Path::Vnni => unsafe { on_vnni::block(Vnni { amx: false }, dims, &p, x, io) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Path::Amx => unsafe { on_vnni::block(Vnni { amx: true }, dims, &p, x, io) },
    };
    // A thread's own memory: thread 0 the block's scratch (in a channel split only its ring,
    // the band holding the shared depthwise output), thread i > 0 the i-th extra region (both
    // checked above).
    let own = |i: usize, len: usize| {
        // SAFETY: inside the regions checked above; no other thread uses them meanwhile.
        unsafe {
            if i == 0 {
                s0.part(0, len)
            } else {
                ex.part((i - 1) * stride, len)
            }
        }
    };
    let mut threads = threads;
    if let Some(t) = threads.as_deref_mut().filter(|t| t.count() > 1 && splits_channels(d, t.count())) {
        let n = t.count();
        let (groups, pixels, ring) = (d.hidden.div_ceil(64), ho * d.wo(), d.ring_len());
        // Two parallel regions: `run_parts` returns only when every thread is done, so every group
        // is in the shared band before any thread gathers from it.
        t.run(&|i| {
            let g = share(groups, n, i);
            if g.is_empty() {
                return;
            }
            let (c0, c1) = (64 * g.start, (64 * g.end).min(d.hidden));
            // SAFETY: the groups' part of the band, after thread 0's ring; no other thread's.
            let band = unsafe { s0.part(ring + c0 * pixels, (c1 - c0) * pixels) };
            part(Io::Hidden { groups: g, tmp: own(i, ring), band });
        });
        t.run(&|i| {
            let px = share(pixels, n, i);
            if px.is_empty() {
                return;
            }
            // SAFETY: every thread only reads the band in this region; thread i writes its own
            // output pixels.
            let (band, y) = unsafe { (s0.read(ring, d.hidden * pixels), y.part(px.start * d.cout, px.len() * d.cout)) };
            part(Io::Project { pixels: px, band, tmp: own(i, ring), y });
        });
        return;
    }
    run_parts(threads, &|i, n| {
        let rows = share(ho, n, i);
        if rows.is_empty() {
            return;
        }
        // SAFETY: thread i writes output rows `rows` only.
        let y = unsafe { y.part(rows.start * row, rows.len() * row) };
        part(Io::Rows { rows, y, scratch: own(i, need) });
    });
}
