//! The fused int8 block: its kernels' shape carriers (constants when the block's shapes are),
//! the band loop a thread runs on its output rows (`block_rows`), the channel split's two
//! phases (`hidden_groups`, `project_pixels`), and the rule that picks the split
//! (`splits_channels`). `par::par_block8` checks the operands and runs these on its threads.

use super::conv::STEM_K;
#[cfg(target_arch = "x86_64")]
use super::isa::Plain;
use super::isa::{DwDims, DwShape, Ops, PwDims, PwShape};
use super::{BlockInput, QBlockParams, QConv};
use crate::block::{BlockDims, BlockShape};
use crate::dispatch::check;
use crate::threads::share;
use core::marker::PhantomData;
use core::ops::Range;

/// A block's shapes: a constant (`Const<B>`, so the kernels instantiated on it see constants)
/// or a run-time value.
pub(crate) trait Dims: Copy + Sync {
    fn get(self) -> BlockDims;
}

/// `fn() -> B`: copyable and shareable whatever `B` is.
pub(crate) struct Const<B>(pub(super) PhantomData<fn() -> B>);

impl<B> Clone for Const<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for Const<B> {}

impl<B: BlockShape> Dims for Const<B> {
    #[inline(always)]
    fn get(self) -> BlockDims {
        B::DIMS
    }
}

impl Dims for BlockDims {
    #[inline(always)]
    fn get(self) -> BlockDims {
        self
    }
}

/// A block's 1x1 convolution as a `PwShape` over the block's `Dims` (constants when they are):
/// `k` and `n` from its `BlockDims` `d`.
macro_rules! block_pw {
    ($(#[$doc:meta])* $name:ident, |$d:ident| $k:expr, $n:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        struct $name<D>(D);

        impl<D: Dims> PwShape for $name<D> {
            #[inline(always)]
            #[allow(unused_variables)]
            fn k(self) -> usize {
                let $d = self.0.get();
                $k
            }

            #[inline(always)]
            fn n(self) -> usize {
                let $d = self.0.get();
                $n
            }
        }
    };
}

block_pw!(
    /// A block's expand, `cin` to `hidden` channels.
    Expand, |d| d.cin, d.hidden
);
block_pw!(
    /// A block's stem as a 1x1 convolution of `STEM_K`-level patches to `hidden` channels.
    Stem, |d| STEM_K, d.hidden
);
block_pw!(
    /// A block's project, `hidden` to `cout` channels.
    Project, |d| d.hidden, d.cout
);

/// A block's depthwise, constants when the block's shapes are.
#[derive(Clone, Copy)]
struct Depthwise<D>(D);

impl<D: Dims> DwShape for Depthwise<D> {
    #[inline(always)]
    fn w_in(self) -> usize {
        self.0.get().w
    }

    #[inline(always)]
    fn c(self) -> usize {
        self.0.get().hidden
    }

    #[inline(always)]
    fn stride(self) -> usize {
        self.0.get().stride
    }

    #[inline(always)]
    fn pad_l(self) -> usize {
        self.0.get().pad().1
    }
}

/// Whether `forward_parallel` on `threads` threads splits int8 block `d` by expanded channels
/// (groups of 64) and then output pixels rather than by output rows: where the f32 path would
/// (`BlockDims::splits_channels`: one band covers the map, fewer than 4 output rows a thread),
/// the block has an expand convolution, and the channel split's busiest thread has less work
/// (`split_work`).
pub fn splits_channels(d: &BlockDims, threads: usize) -> bool {
    d.splits_channels(threads) && d.expand && {
        let (rows, channels) = split_work(d, threads);
        channels < rows
    }
}

/// The multiply-accumulates of the busiest of `threads` threads on int8 block `d`: split by
/// output rows (each thread expands the input rows its rows' 3x3 windows read, so halo rows are
/// expanded twice), and split by channels (groups of 64 expanded channels through expand and
/// depthwise, then output pixels through the project; the phases' busiest threads summed).
pub fn split_work(d: &BlockDims, threads: usize) -> (u64, u64) {
    let n = threads.max(1);
    let (h, w, cin, hid, cout, ho, wo) = (d.h, d.w, d.cin, d.hidden, d.cout, d.ho(), d.wo());
    let in_row = if d.stem.is_some() { w * 27 * cin } else { usize::from(d.expand) * w * cin * hid } as u64;
    let out_row = (wo * hid * (9 + cout)) as u64;
    let pt = d.pad().0;
    let busiest = |units: usize, cost: &dyn Fn(Range<usize>) -> u64| (0..n).map(|i| cost(share(units, n, i))).max();
    let rows = busiest(ho, &|r| {
        if r.is_empty() {
            return 0;
        }
        let first = (r.start * d.stride).saturating_sub(pt);
        let last = ((r.end - 1) * d.stride + 2 - pt).min(h - 1);
        (last + 1 - first) as u64 * in_row + r.len() as u64 * out_row
    });
    let groups = hid.div_ceil(64);
    let per_channel = (h * w * cin * usize::from(d.expand) + ho * wo * 9) as u64;
    let expand = busiest(groups, &|g| ((64 * g.end).min(hid) - (64 * g.start).min(hid)) as u64 * per_channel);
    let project = busiest(ho * wo, &|px| (px.len() * hid * cout) as u64);
    (rows.unwrap_or(0), expand.unwrap_or(0) + project.unwrap_or(0))
}

/// A thread's part of a block, and the memory it works in.
pub(crate) enum Io<'a> {
    /// Output rows `rows` into `y` (those rows only), through the thread's own `scratch`.
    Rows { rows: Range<usize>, y: &'a mut [u8], scratch: &'a mut [u8] },
    /// A channel split's first phase: the groups `groups` of 64 expanded channels, each
    /// expanded over the whole map into `tmp` (the thread's own), then through the depthwise
    /// into `band`: these groups' part of the block's depthwise output, which holds group `g`'s
    /// channels for every pixel from `64 * g * pixels`.
    Hidden { groups: Range<usize>, tmp: &'a mut [u8], band: &'a mut [u8] },
    /// The second phase, once every group is in `band`: output pixels `pixels`, their
    /// depthwise levels gathered from every group into `tmp` (the thread's own) and projected
    /// into `y` (those pixels only).
    Project { pixels: Range<usize>, band: &'a [u8], tmp: &'a mut [u8], y: &'a mut [u8] },
}

#[inline(always)]
pub(super) fn block_io<O: Ops, D: Dims>(o: O, dims: D, p: &QBlockParams, x: BlockInput, io: Io) {
    match io {
        Io::Rows { rows, y, scratch } => block_rows(o, dims, p, x, y, scratch, rows),
        // The channel split's phases: one run-time-shaped instance per path, not one per block
        // (they run only on many threads, in the late blocks).
        Io::Hidden { groups, tmp, band } => hidden_groups(o, &dims.get(), p, x, groups, tmp, band),
        Io::Project { pixels, band, tmp, y } => project_pixels(o, &dims.get(), p, x, pixels, band, tmp, y),
    }
}

/// The portable block on x86-64, where only CPUs without AVX2 run it: one run-time-shaped
/// instance for every block.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
pub(super) fn portable_block(d: BlockDims, p: &QBlockParams, x: BlockInput, io: Io) {
    block_io(Plain, d, p, x, io)
}

/// `Io::Hidden`: each group's expanded channels for the whole map into `tmp` (the expand's
/// tiles of the group: its packed weights and per-channel arrays from tile `c0 / 16`), then its
/// depthwise (weights from channel `c0`, taps `hidden` apart) into the group's part of `band`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn hidden_groups<O: Ops>(
    o: O,
    d: &BlockDims,
    p: &QBlockParams,
    x: BlockInput,
    groups: Range<usize>,
    tmp: &mut [u8],
    band: &mut [u8],
) {
    let (h, w, cin, hid, ho, wo) = (d.h, d.w, d.cin, d.hidden, d.ho(), d.wo());
    let (BlockInput::Levels(levels), Some(e)) = (x, p.expand) else {
        unreachable!("a channel split needs an expand over a tensor (`splits_channels`)")
    };
    let (pt, pad_l) = d.pad();
    let mut band = band;
    for g in groups {
        let (c0, len) = (64 * g, (hid - 64 * g).min(64));
        let t0 = c0 / 16;
        let eq = QConv {
            weight: &e.weight[t0 * cin.div_ceil(4) * 64..],
            bias: &e.bias[c0..],
            m: &e.m[c0..],
            shift: &e.shift[c0..],
            ..e
        };
        let rows = &mut tmp[..h * w * len];
        o.pointwise(&levels[..h * w * cin], PwDims { k: cin, n: len }, &eq, None, rows);
        let rows = &*rows;
        let q = &p.depthwise;
        let dq = QConv { weight: &q.weight[c0..], bias: &q.bias[c0..], m: &q.m[c0..], shift: &q.shift[c0..], ..*q };
        let s = DwDims { w_in: w, c: len, stride: d.stride, pad_l, taps: hid };
        let (dst, rest) = core::mem::take(&mut band).split_at_mut(ho * wo * len);
        band = rest;
        let mut oy = 0;
        while oy < ho {
            let run = DW_RUN.min(ho - oy);
            let mut srcs: [[Option<&[u8]>; 3]; DW_RUN] = [[None; 3]; DW_RUN];
            for (r, src) in srcs[..run].iter_mut().enumerate() {
                let top = (oy + r) * d.stride + 1 - pt;
                *src = core::array::from_fn(|ky| {
                    let iy = (top + ky).wrapping_sub(1);
                    (iy < h).then(|| &rows[iy * w * len..][..w * len])
                });
            }
            o.dw_band(&srcs[..run], s, &dq, &mut dst[oy * wo * len..][..run * wo * len]);
            oy += run;
        }
    }
}

/// `Io::Project`: the pixels' depthwise levels, gathered from every group of `band` into rows of
/// `hidden` levels in `tmp`, through the project (and the shortcut) into `y`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn project_pixels<O: Ops>(
    o: O,
    d: &BlockDims,
    p: &QBlockParams,
    x: BlockInput,
    pixels: Range<usize>,
    band: &[u8],
    tmp: &mut [u8],
    y: &mut [u8],
) {
    let (hid, cin, all) = (d.hidden, d.cin, d.ho() * d.wo());
    let rows = &mut tmp[..pixels.len() * hid];
    for c0 in (0..hid).step_by(64) {
        let len = (hid - c0).min(64);
        let group = &band[c0 * all..][..all * len];
        for (row, px) in rows.chunks_exact_mut(hid).zip(pixels.clone()) {
            row[c0..c0 + len].copy_from_slice(&group[px * len..][..len]);
        }
    }
    let BlockInput::Levels(levels) = x else { unreachable!("a channel split reads a tensor") };
    let res = p.shortcut.map(|sc| (&levels[pixels.start * cin..pixels.end * cin], sc));
    o.pointwise(rows, PwDims { k: hid, n: d.cout }, &p.project, res, y);
}

pub(super) fn check_block(d: &BlockDims, x: &BlockInput, y: &[u8], p: &QBlockParams, scratch: &[u8]) {
    d.validate();
    match (x, d.stem) {
        (BlockInput::Image(img), Some(_)) => check("block image", img.len(), d.x_len()),
        (BlockInput::Levels(l), None) => check("block input", l.len(), d.x_len()),
        _ => panic!("internal error: a block's input is the image exactly when it has a stem"),
    }
    check("block output", y.len(), d.y_len());
    check("block scratch", scratch.len(), d.scratch_len());
    match (d.stem, p.stem) {
        (Some(_), Some(q)) => q.check_pointwise("block stem", 27, d.hidden),
        (None, None) => {}
        _ => panic!("internal error: stem parameters without a stem, or a stem without them"),
    }
    match (d.expand, p.expand) {
        (true, Some(q)) => q.check_pointwise("block expand", d.cin, d.hidden),
        (false, None) => {}
        _ => panic!("internal error: expand parameters do not match the block"),
    }
    p.depthwise.check_depthwise("block depthwise", d.hidden);
    p.project.check_pointwise("block project", d.hidden, d.cout);
    match (d.residual, p.shortcut) {
        (true, Some(s)) => {
            assert!(d.stride == 1 && d.cin == d.cout && d.stem.is_none(), "internal error: bad shortcut");
            check("block shortcut multipliers", s.m.len(), d.cout.div_ceil(16) * 16);
        }
        (false, None) => {}
        _ => panic!("internal error: shortcut parameters do not match the block"),
    }
}

/// The most depthwise output rows per `Ops::dw_band` call.
const DW_RUN: usize = 16;

/// Output rows `rows` of block `d` into `y` (those rows only), in bands of `d.band` rows: the
/// expanded (or stem) rows each band's depthwise reads go to the ring in `scratch`, each
/// computed once, the band's depthwise rows to the band buffer after it, which the project
/// consumes. A thread starting mid-map computes the expanded rows of its halo itself.
#[inline(always)]
fn block_rows<O: Ops, D: Dims>(
    o: O,
    dims: D,
    p: &QBlockParams,
    x: BlockInput,
    y: &mut [u8],
    scratch: &mut [u8],
    rows: Range<usize>,
) {
    let d = &dims.get();
    let (w, s, wo, hid, cin, cout) = (d.w, d.stride, d.wo(), d.hidden, d.cin, d.cout);
    let (pt, (spt, spl)) = (d.pad().0, d.stem_pad());
    let ring_rows = d.ring_rows();
    let (ring, rest) = scratch.split_at_mut(d.ring_len());
    let band = &mut rest[..d.band_len()];
    let ring_row = w * hid;
    let ringed = d.expand || d.stem.is_some();
    let levels = match x {
        BlockInput::Levels(l) => l,
        BlockInput::Image(_) => &[],
    };
    let mut next = (rows.start * s).saturating_sub(pt);
    let mut oy0 = rows.start;
    while oy0 < rows.end {
        let n_out = d.band.min(rows.end - oy0);
        let last_in = ((oy0 + n_out - 1) * s + 2 - pt).min(d.h - 1);
        while ringed && next <= last_in {
            // The rows up to `last_in` that lie contiguously in the ring: one 1x1 call for all
            // (narrow maps give its register tiles whole rows' pixels, not one row's few).
            let slot = next % ring_rows;
            let count = (last_in + 1 - next).min(ring_rows - slot);
            let dst = &mut ring[slot * ring_row..][..count * ring_row];
            match (x, d.stem, p.stem, p.expand) {
                (BlockInput::Image(img), Some((img_h, img_w)), Some(q), _) => {
                    for (r, row) in dst.chunks_exact_mut(ring_row).enumerate() {
                        o.stem_row(img, img_h, img_w, Stem(dims), 2 * (next + r) + 1 - spt, spl, &q, row)
                    }
                }
                (_, _, _, Some(q)) => {
                    o.pointwise(&levels[next * w * cin..][..count * w * cin], Expand(dims), &q, None, dst)
                }
                _ => unreachable!("checked by `check_block`"),
            }
            next += count;
        }
        // The band's rows in runs of up to `DW_RUN`, each one depthwise call (which sets its
        // constants up once per call).
        let mut r0 = 0;
        while r0 < n_out {
            let run = DW_RUN.min(n_out - r0);
            let mut srcs: [[Option<&[u8]>; 3]; DW_RUN] = [[None; 3]; DW_RUN];
            for (r, src) in srcs[..run].iter_mut().enumerate() {
                let top = (oy0 + r0 + r) * s + 1 - pt;
                *src = core::array::from_fn(|ky| {
                    let iy = (top + ky).wrapping_sub(1);
                    (iy < d.h).then(|| {
                        if ringed {
                            &ring[(iy % ring_rows) * ring_row..][..ring_row]
                        } else {
                            &levels[iy * w * cin..][..w * cin]
                        }
                    })
                });
            }
            let dst = &mut band[r0 * wo * hid..][..run * wo * hid];
            o.dw_band(&srcs[..run], Depthwise(dims), &p.depthwise, dst);
            r0 += run;
        }
        let px = n_out * wo;
        let res = p.shortcut.map(|sc| (&levels[oy0 * w * cin..][..px * cin], sc));
        let out = &mut y[(oy0 - rows.start) * wo * cout..][..px * cout];
        o.pointwise(&band[..px * hid], Project(dims), &p.project, res, out);
        oy0 += n_out;
    }
}
