//! Fused inverted-residual blocks: expand 1x1 -> depthwise 3x3 -> project 1x1 (+ shortcut),
//! computed in bands of output rows so the expanded tensor never exists in full (MobileNetV2
//! paper, "Memory efficient inference"). Expanded rows go to a ring buffer, each computed once;
//! a band's depthwise rows go to a band buffer that the project GEMM consumes. Threads split a
//! block by output rows, or, when one band covers the map and rows are few, by channels in two
//! phases (`BlockPart`); a batch runs whole-map blocks with weight panels outermost
//! (`block_batch`).

use crate::dw::DwRow;
use crate::gemm::{gemm_sized, gemm_units, tile_rows, units, Gemm, UNIT_COLS, UNIT_ROWS};
use crate::layout::NR;
use crate::reference::Padding;
use crate::simd::Simd;

/// Shapes of one fused block, fixed at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockDims {
    /// Input height, width and channels.
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    /// Expanded (hidden) channels.
    pub hidden: usize,
    pub cout: usize,
    pub stride: usize,
    /// Whether there is an expand 1x1 convolution (`t != 1`).
    pub expand: bool,
    /// Whether the input is added to the output.
    pub residual: bool,
    /// Output rows per band.
    pub band: usize,
    /// `Some((height, width))`: the block's input is this RGB image, and the network's stem (3x3
    /// stride-2 convolution to `cin` channels, BN, ReLU6) produces the `h x w x cin` rows the
    /// depthwise reads, in the ring, in place of an expand convolution.
    pub stem: Option<(usize, usize)>,
    /// Where the depthwise (and the stem's) zero padding goes.
    pub padding: Padding,
}

impl BlockDims {
    /// Zero rows and columns before the depthwise's input.
    pub const fn pad(&self) -> (usize, usize) {
        (self.padding.before(self.h, self.stride), self.padding.before(self.w, self.stride))
    }

    /// Zero rows and columns before the stem's image (when the block has a stem).
    pub const fn stem_pad(&self) -> (usize, usize) {
        match self.stem {
            Some((h, w)) => (self.padding.before(h, 2), self.padding.before(w, 2)),
            None => (1, 1),
        }
    }

    pub const fn ho(&self) -> usize {
        (self.h - 1) / self.stride + 1
    }

    pub const fn wo(&self) -> usize {
        (self.w - 1) / self.stride + 1
    }

    /// Expanded rows the ring holds: enough for one band's depthwise window.
    pub const fn ring_rows(&self) -> usize {
        if !self.expand && self.stem.is_none() {
            return 0;
        }
        // Saturating: `validate` calls this before it has bounded `band`.
        let rows = (self.band - 1).saturating_mul(self.stride).saturating_add(3);
        if rows < self.h {
            rows
        } else {
            self.h
        }
    }

    pub const fn ring_len(&self) -> usize {
        self.ring_rows() * self.w * self.hidden
    }

    pub const fn band_len(&self) -> usize {
        self.band * self.wo() * self.hidden
    }

    /// Floats of scratch (ring + band buffer) one thread needs.
    pub const fn scratch_len(&self) -> usize {
        self.ring_len() + self.band_len()
    }

    pub const fn x_len(&self) -> usize {
        match self.stem {
            Some((h, w)) => h * w * 3,
            None => self.h * self.w * self.cin,
        }
    }

    pub const fn y_len(&self) -> usize {
        self.ho() * self.wo() * self.cout
    }

    /// Panics unless the kernels handle these shapes: every size at least 1, stride 1 or 2, a
    /// band of at least one row, the depthwise as wide as the input unless an expand widens it,
    /// and every buffer's length in bytes within `isize` (so that the length methods above,
    /// which the operand checks use, cannot wrap). Inlined, so that for a shape type's constant
    /// `DIMS` it folds away.
    #[inline]
    #[track_caller]
    pub fn validate(&self) {
        let sizes_ok = self.h >= 1 && self.w >= 1 && self.cin >= 1 && self.hidden >= 1 && self.cout >= 1;
        let stem_ok = match self.stem {
            Some((h, w)) => h >= 1 && w >= 1,
            None => true,
        };
        assert!(
            sizes_ok && stem_ok && self.band >= 1 && (self.stride == 1 || self.stride == 2),
            "internal error: bad block shape {self:?}"
        );
        assert!(self.expand || self.hidden == self.cin, "internal error: bad hidden width");
        let ring = self.ring_rows();
        let len = |dims: [usize; 3]| dims.into_iter().try_fold(4usize, usize::checked_mul);
        let (h, w) = self.stem.unwrap_or((0, 0));
        let fits = [
            len([ring, self.w, self.hidden]),
            len([self.band, self.wo(), self.hidden]),
            len([self.h, self.w, self.cin]),
            len([h, w, 3]),
            len([self.ho(), self.wo(), self.cout]),
        ]
        .into_iter()
        .try_fold(0usize, |sum, l| sum.checked_add(l?));
        assert!(fits.is_some_and(|b| b <= isize::MAX as usize), "internal error: block buffers overflow: {self:?}");
    }
}

/// A fused block's shapes as a type. Generated code defines one zero-sized type per block
/// step, so the kernels instantiated for it see every shape as a constant.
pub trait BlockShape {
    const DIMS: BlockDims;
}

/// Raw operands of a block (checked by the safe entry point).
#[derive(Clone, Copy)]
pub(crate) struct BlockPtrs {
    pub x: *const f32,
    pub y: *mut f32,
    pub expand_w: *const f32,
    pub expand_b: *const f32,
    pub stem_w: *const f32,
    pub stem_b: *const f32,
    pub dw_w: *const f32,
    pub dw_b: *const f32,
    pub project_w: *const f32,
    pub project_b: *const f32,
    pub scratch: *mut f32,
    /// The first row `x` and `y` hold: 0 for whole tensors; a chain (`crate::chain`) runs a
    /// block's rows on a window of rows of its input or output.
    pub x_row0: usize,
    pub y_row0: usize,
}

// SAFETY: threads of one `Threads::run` share a block's operands: inputs and parameters are
// only read, and each thread writes disjoint output rows and its own scratch (`par_block`).
unsafe impl Sync for BlockPtrs {}

/// Pointers to the 3 rows `top - 1 ..= top + 1` of an `h`-row tensor with `row_len` floats a
/// row, and which of them lie inside it. A 3x3 window at input row `y0` (which may be -1) is
/// `top = y0 + 1`.
#[inline(always)]
pub(crate) fn row_ptrs(base: *const f32, h: usize, row_len: usize, top: usize) -> ([*const f32; 3], [bool; 3]) {
    let iy = |ky: usize| (top + ky).wrapping_sub(1);
    let valid: [bool; 3] = core::array::from_fn(|ky| iy(ky) < h);
    let ptrs = core::array::from_fn(|ky| if valid[ky] { base.wrapping_add(iy(ky) * row_len) } else { base });
    (ptrs, valid)
}

/// Register tile rows of a block's expand and project GEMMs (`gemm::tile_rows`): sized to the
/// map for whole-map blocks in shape-constant instances (`sized`), where the pixel counts are
/// constants and only the chosen tile is compiled; `MR` otherwise.
#[inline(always)]
const fn whole_map_tiles<const MR: usize>(d: &BlockDims, sized: bool) -> (usize, usize) {
    if sized && d.whole_map() {
        (tile_rows(MR, d.h * d.w), tile_rows(MR, d.ho() * d.wo()))
    } else {
        (MR, MR)
    }
}

/// Output rows `rows` of a block.
///
/// # Safety
/// `p` points to tensors and parameters of the sizes `d` implies (`scratch`: `d.scratch_len()`),
/// or, with `x_row0`/`y_row0` set, to windows that hold every input row the output rows `rows`
/// read (from `x_row0`) and those output rows (from `y_row0`); `y` does not overlap `x` or
/// `scratch`; the ISA of `S` is present.
#[inline(always)]
pub(crate) unsafe fn block_rows<S: Simd, const MR: usize, const NV: usize, const PX: usize>(
    d: &BlockDims,
    p: &BlockPtrs,
    rows: core::ops::Range<usize>,
    sized: bool,
) {
    let (w, s, wo) = (d.w, d.stride, d.wo());
    let (expand_tile, project_tile) = whole_map_tiles::<MR>(d, sized);
    let ((pt, pl), (stem_pt, stem_pl)) = (d.pad(), d.stem_pad());
    let ring = p.scratch;
    // SAFETY: the band buffer follows the ring inside the scratch region.
    let band = unsafe { p.scratch.add(d.ring_len()) };
    let ring_rows = d.ring_rows();
    let dw = DwRow { w_in: w, c: d.hidden, ch: (0, d.hidden), stride: s, wo, pad: pl };
    // Where row 0 of the input would be: `row_ptrs` offsets it (wrapping) to rows in the window.
    let x_rows = p.x.wrapping_sub(p.x_row0 * w * d.cin);
    // Output row `oy` reads input rows `oy * s - pt ..= oy * s + 2 - pt`.
    let mut next = (rows.start * s).saturating_sub(pt);
    let mut oy0 = rows.start;
    while oy0 < rows.end {
        let n_out = d.band.min(rows.end - oy0);
        let last_in = ((oy0 + n_out - 1) * s + 2 - pt).min(d.h - 1);
        // SAFETY: (whole band) every offset below stays inside the tensor or buffer it
        // addresses, by the shapes in `d` and the ring invariant (the ring holds the last
        // `ring_rows` expanded rows, enough for one band).
        unsafe {
            if let Some((img_h, img_w)) = d.stem {
                while next <= last_in {
                    let (rows, valid) = row_ptrs(p.x, img_h, img_w * 3, 2 * next + 1 - stem_pt);
                    let out = ring.add((next % ring_rows) * w * d.hidden);
                    crate::stem::stem_row::<S, PX>(img_w, d.cin, w, stem_pl, rows, valid, p.stem_w, p.stem_b, out);
                    next += 1;
                }
            }
            if d.expand {
                while next <= last_in {
                    let slot = next % ring_rows;
                    let count = (last_in + 1 - next).min(ring_rows - slot);
                    gemm_sized::<S, MR, NV>(
                        &Gemm {
                            m: count * w,
                            k: d.cin,
                            n: d.hidden,
                            a: p.x.add((next - p.x_row0) * w * d.cin),
                            lda: d.cin,
                            w: p.expand_w,
                            bias: p.expand_b,
                            res: core::ptr::null(),
                            ldr: 0,
                            out: ring.add(slot * w * d.hidden),
                            ldo: d.hidden,
                            relu: true,
                        },
                        expand_tile,
                    );
                    next += count;
                }
            }
            let ringed = d.expand || d.stem.is_some();
            let rows = |r: usize| {
                let top = (oy0 + r) * s + 1 - pt;
                if !ringed {
                    return row_ptrs(x_rows, d.h, w * d.cin, top);
                }
                let (mut ptrs, valid) = row_ptrs(ring, d.h, 0, top);
                for (ky, ptr) in ptrs.iter_mut().enumerate() {
                    if valid[ky] {
                        *ptr = ring.add(((top + ky - 1) % ring_rows) * w * d.hidden);
                    }
                }
                (ptrs, valid)
            };
            crate::dw::dw_band::<S, PX>(&dw, n_out, rows, p.dw_w, p.dw_b, band);
            gemm_sized::<S, MR, NV>(
                &Gemm {
                    m: n_out * wo,
                    k: d.hidden,
                    n: d.cout,
                    a: band,
                    lda: d.hidden,
                    w: p.project_w,
                    bias: p.project_b,
                    res: if d.residual { p.x.add((oy0 - p.x_row0) * w * d.cin) } else { core::ptr::null() },
                    ldr: d.cin,
                    out: p.y.add((oy0 - p.y_row0) * wo * d.cout),
                    ldo: d.cout,
                    relu: false,
                },
                project_tile,
            );
        }
        oy0 += n_out;
    }
}

/// Which part of a block one thread computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlockPart {
    /// Output rows, each thread with its own ring (and the expand rows of its halo).
    Rows(core::ops::Range<usize>),
    /// Channel split, first phase: expanded channel panels (of `NR`) of the whole map into the
    /// shared ring, and their depthwise outputs into the shared band buffer.
    Hidden(core::ops::Range<usize>),
    /// Channel split, second phase: project units (`gemm::units`) of the whole map.
    Project(core::ops::Range<usize>),
}

impl BlockDims {
    /// Whether `threads` threads split this block by channels (two phases over the whole map:
    /// no halo rows recomputed, no thread idle for want of rows) rather than by output rows:
    /// when one band covers the map, the block reads a tensor (a fused stem computes all its
    /// channels at once), and fewer than 4 output rows would fall to a thread. With more rows
    /// the row split wins: it synchronises once, not twice, its threads share no buffer, and
    /// its halo rows are a small part. Measured on v2 1.0-224 at 2 threads (AMD Zen 5): the 7x7
    /// blocks (3.5 rows a thread) by channels, `forward_parallel` 5% faster in f32 and 3% in
    /// int8; the 14x14 ones (7 rows) too, no faster in f32 and 1-2% slower in int8.
    pub const fn splits_channels(&self, threads: usize) -> bool {
        self.whole_map() && 4 * threads > self.ho()
    }

    /// Whether the block can run its channel phases (`BlockPart::Hidden`, `Project`): one band
    /// covers the map and the block reads a tensor.
    pub const fn whole_map(&self) -> bool {
        self.band >= self.ho() && self.stem.is_none()
    }

    /// Units of the channel split's phases: expanded panels, and project units.
    pub const fn channel_units(&self) -> (usize, usize) {
        (self.hidden.div_ceil(NR), units(self.ho() * self.wo(), self.cout))
    }
}

/// The part `part` of a block; `sized` (a literal in each caller, so that it folds): a
/// shape-constant instance, whose whole-map GEMMs take tiles sized to the map (`whole_map_tiles`).
///
/// # Safety
/// As `block_rows`; a channel split's phases need `d.whole_map()`, the scratch shared by every
/// thread, and every thread's `Hidden` part finished before any `Project` part starts.
#[inline(always)]
pub(crate) unsafe fn block_part<S: Simd, const MR: usize, const NV: usize, const PX: usize>(
    d: &BlockDims,
    p: &BlockPtrs,
    part: BlockPart,
    sized: bool,
) {
    // SAFETY: forwarded contract.
    unsafe {
        // Threads split only whole-map blocks by channels; in a shape-constant instance of any
        // other block `whole_map()` is a constant `false`, so the channel phases' code drops out.
        match part {
            BlockPart::Rows(rows) => block_rows::<S, MR, NV, PX>(d, p, rows, sized),
            BlockPart::Hidden(panels) if d.whole_map() => block_hidden::<S, MR, NV, PX>(d, p, panels, sized),
            BlockPart::Project(tiles) if d.whole_map() => block_project::<S, MR, NV>(d, p, tiles, sized),
            BlockPart::Hidden(_) | BlockPart::Project(_) => {
                debug_assert!(false, "channel phases of a block that is not whole-map: {d:?}")
            }
        }
    }
}

/// Expanded channels `panels` (of `NR`) of the whole map, then their depthwise outputs.
#[inline(always)]
unsafe fn block_hidden<S: Simd, const MR: usize, const NV: usize, const PX: usize>(
    d: &BlockDims,
    p: &BlockPtrs,
    panels: core::ops::Range<usize>,
    sized: bool,
) {
    debug_assert!(p.x_row0 == 0 && p.y_row0 == 0, "channel phases run on whole tensors");
    let (c0, c1) = (panels.start * NR, (panels.end * NR).min(d.hidden));
    if c0 >= c1 {
        return;
    }
    let (w, s, wo) = (d.w, d.stride, d.wo());
    let (pt, pl) = d.pad();
    let ring = p.scratch;
    // SAFETY: (whole function) `d.whole_map()` (the caller's contract), so the ring holds
    // every expanded row at its own slot and the band buffer every depthwise row; channel
    // offsets stay below `hidden`, panel offsets inside the packed weights.
    unsafe {
        let band = p.scratch.add(d.ring_len());
        if d.expand {
            gemm_sized::<S, MR, NV>(
                &Gemm {
                    m: d.h * w,
                    k: d.cin,
                    n: c1 - c0,
                    a: p.x,
                    lda: d.cin,
                    w: p.expand_w.add(panels.start * d.cin * NR),
                    bias: p.expand_b.add(c0),
                    res: core::ptr::null(),
                    ldr: 0,
                    out: ring.add(c0),
                    ldo: d.hidden,
                    relu: true,
                },
                whole_map_tiles::<MR>(d, sized).0,
            );
        }
        let dw = DwRow { w_in: w, c: d.hidden, ch: (c0, c1), stride: s, wo, pad: pl };
        let src = if d.expand { ring.cast_const() } else { p.x };
        let rows = |oy: usize| row_ptrs(src, d.h, w * d.hidden, oy * s + 1 - pt);
        crate::dw::dw_band::<S, PX>(&dw, d.ho(), rows, p.dw_w, p.dw_b, band);
    }
}

/// Project units `units` (see `gemm::units`) of the whole map, from the band buffer the
/// `Hidden` phase filled.
#[inline(always)]
unsafe fn block_project<S: Simd, const MR: usize, const NV: usize>(
    d: &BlockDims,
    p: &BlockPtrs,
    units: core::ops::Range<usize>,
    sized: bool,
) {
    // SAFETY: the whole-map GEMM lies inside the band buffer, the output and (for the
    // shortcut) the input; `gemm_units` keeps to the units asked for.
    unsafe {
        let g = Gemm {
            m: d.ho() * d.wo(),
            k: d.hidden,
            n: d.cout,
            a: p.scratch.add(d.ring_len()),
            lda: d.hidden,
            w: p.project_w,
            bias: p.project_b,
            res: if d.residual { p.x } else { core::ptr::null() },
            ldr: d.cin,
            out: p.y,
            ldo: d.cout,
            relu: false,
        };
        gemm_units::<S, MR, NV>(&g, units, whole_map_tiles::<MR>(d, sized).1);
    }
}

/// A batch of whole-map blocks (`ps`: each image's operands), weight panels outermost: each
/// chunk of expanded channels for every image, then each chunk of output channels for every
/// image, so a chunk's weights come from memory once per batch and from cache after.
///
/// # Safety
/// As `block_part`'s channel split, for every image's operands.
#[inline(always)]
pub(crate) unsafe fn block_batch<S: Simd, const MR: usize, const NV: usize, const PX: usize>(
    d: &BlockDims,
    ps: &[BlockPtrs],
    sized: bool,
) {
    const CHUNK: usize = UNIT_COLS / NR;
    let panels = d.hidden.div_ceil(NR);
    // SAFETY: forwarded contract; each image's hidden phase completes before its project.
    unsafe {
        for c in (0..panels).step_by(CHUNK) {
            for p in ps {
                block_hidden::<S, MR, NV, PX>(d, p, c..(c + CHUNK).min(panels), sized);
            }
        }
        let chunks = (d.ho() * d.wo()).div_ceil(UNIT_ROWS);
        for col in 0..d.cout.div_ceil(UNIT_COLS) {
            for p in ps {
                block_project::<S, MR, NV>(d, p, col * chunks..(col + 1) * chunks, sized);
            }
        }
    }
}
