//! 3x3 depthwise convolution (stride 1 or 2, padding as `Padding` says) over a band of output
//! rows, vectorised over channels. Loops, outermost first: one cache line of channels, a tile
//! of output columns, the band's rows, the vectors of the line, groups of `PX` output pixels
//! (of 4 where a row's interior is narrower than a group, as on 7x7 maps).
//! So a line's taps are loaded once per row segment and its slice of the input rows stays in
//! L1 while the band's rows go by: pixels of one channel vector lie `c` floats apart, so their
//! lines fall in few of L1's sets, and column tiles keep the slice within them (`dw_cols`).
//! Taps are unrolled; each input pixel is loaded once per group and reused by the taps that
//! see it. Input rows outside the image get zero weights instead of branches, and only the
//! first and last columns take the edge path.

use crate::simd::Simd;

/// Geometry of one depthwise row.
#[derive(Clone, Copy)]
pub(crate) struct DwRow {
    /// Input row width and channels.
    pub w_in: usize,
    pub c: usize,
    /// The channels computed: `ch.0..ch.1` (all of them but where threads split channels).
    pub ch: (usize, usize),
    pub stride: usize,
    /// Output row width.
    pub wo: usize,
    /// Zero columns before the row (`Padding::before`): 1, or 0 for TF's stride-2 even widths.
    pub pad: usize,
}

/// Floats in a 64-byte cache line.
const LINE_FLOATS: usize = 16;

/// Output columns a tile covers: as many as keep a line of channels' slice of the input rows a
/// row reads (3 * stride columns for each output column) and of the output row within about
/// 3/4 of a 48 KiB, 12-way, 64-set L1. Pixels `c` floats apart use only
/// `64 / gcd(lines per pixel, 64)` of its sets. In v2 1.0-224 only features.1 (112x112x32,
/// tiles of 72 columns) and features.2 (112x112x96 at stride 2, tiles of 40) are split; on AMD
/// Zen 5 features.1 ran 5-6% faster than with one pass over the whole row.
const fn dw_cols(c: usize, stride: usize) -> usize {
    // gcd(lines, 64) is the largest power of two dividing `lines`, at most 64.
    let tz = c.div_ceil(LINE_FLOATS).trailing_zeros();
    let sets = 64 >> if tz < 6 { tz } else { 6 };
    let budget = sets * 9;
    let cols = budget / (3 * stride + 1) / 8 * 8;
    if cols < 8 {
        8
    } else {
        cols
    }
}

/// Output rows `0..n` of a band: `rows(r)` gives output row `r`'s three input rows (`[ky]` is
/// input row `oy * stride + ky - pad_top`, used only if valid), written at `out + r * wo * c`;
/// column `ox` reads input columns from `ox * stride - d.pad`.
///
/// # Safety
/// Valid rows hold `w_in * c` floats, `out` has room for `n` rows of `wo * c`, `wt`/`bias` hold
/// `9 * c`/`c`; each output row has at least one valid input row; the ISA of `S` is present.
#[inline(always)]
pub(crate) unsafe fn dw_band<S: Simd, const PX: usize>(
    d: &DwRow,
    n: usize,
    rows: impl Fn(usize) -> ([*const f32; 3], [bool; 3]),
    wt: *const f32,
    bias: *const f32,
    out: *mut f32,
) {
    // One cache line of channels at a time (several vectors where vectors are narrower), so
    // each line the pass loads is used whole before it leaves L1.
    let chunk = if S::L < LINE_FLOATS { LINE_FLOATS } else { S::L };
    let tile = dw_cols(d.c, d.stride);
    let mut c = d.ch.0;
    while c < d.ch.1 {
        let c_end = (c + chunk).min(d.ch.1);
        let mut x0 = 0;
        while x0 < d.wo {
            let cols = x0..(x0 + tile).min(d.wo);
            for r in 0..n {
                let row = rows(r);
                let mut c0 = c;
                while c0 < c_end {
                    // SAFETY: forwarded contract; `c0 < ch.1`.
                    unsafe { channel_row::<S, PX>(d, c0, &row, wt, bias, out.add(r * d.wo * d.c), cols.clone()) };
                    c0 += S::L;
                }
            }
            x0 = cols.end;
        }
        c = c_end;
    }
}

/// Columns `cols` of one output row, for the channel vector at `c0`: its taps in registers
/// (zero for rows outside the image, which read a valid row instead), then `dw_row_part`.
///
/// # Safety
/// As `dw_band`'s contract, for this row; `c0 < d.ch.1`.
#[inline(always)]
unsafe fn channel_row<S: Simd, const PX: usize>(
    d: &DwRow,
    c0: usize,
    (ptrs, valid): &([*const f32; 3], [bool; 3]),
    wt: *const f32,
    bias: *const f32,
    out: *mut f32,
    cols: core::ops::Range<usize>,
) {
    let lanes = (d.ch.1 - c0).min(S::L);
    // SAFETY: channel offsets stay below `c`; pointers as the contract says.
    unsafe {
        // Loops, not closures: closures do not inherit `#[target_feature]`.
        let mut wv = [S::splat(0.0); 9];
        for (t, v) in wv.iter_mut().enumerate() {
            if valid[t / 3] {
                *v = S::load_n(wt.add(t * d.c + c0), lanes);
            }
        }
        let bv = S::load_n(bias.add(c0), lanes);
        let any = if valid[1] {
            ptrs[1]
        } else if valid[0] {
            ptrs[0]
        } else {
            ptrs[2]
        };
        let rp: [*const f32; 3] = core::array::from_fn(|ky| if valid[ky] { ptrs[ky] } else { any }.add(c0));
        dw_row_part::<S, PX>(d, c0, lanes, &rp, &wv, bv, out, cols);
    }
}

/// One output row of the channel vector at `c0` (`lanes` wide): `rp[ky]` points at its first
/// input pixel's channel `c0` in row `ky`.
///
/// # Safety
/// As `dw_band`'s contract, for this row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_row_part<S: Simd, const PX: usize>(
    d: &DwRow,
    c0: usize,
    lanes: usize,
    rp: &[*const f32; 3],
    wv: &[S::V; 9],
    bv: S::V,
    out: *mut f32,
    cols: core::ops::Range<usize>,
) {
    let (c, s, pl) = (d.c, d.stride, d.pad);
    // Output columns whose 3 input columns all lie inside the row: ox * s + 2 - pl <= w_in - 1.
    let lo = pl.min(d.wo);
    let hi = if d.w_in + pl >= 3 { ((d.w_in + pl - 3) / s + 1).min(d.wo).max(lo) } else { lo };
    // A row whose interior is narrower than a group (7x7 maps at stride 1) takes groups of 4 (2
    // at stride 2) rather than single pixels, each one chain of FMAs. Decided by the row, not
    // the tile, so that shape-constant instances compile one of the two.
    let narrow = hi - lo < group(PX, s);
    let (lo, hi) = (lo.clamp(cols.start, cols.end), hi.clamp(cols.start, cols.end));
    // SAFETY: as the contract says.
    unsafe {
        for ox in cols.start..lo {
            dw_px::<S>(d, c0, lanes, ox, rp, wv, bv, out);
        }
        let mut ox = lo;
        if !S::WIDE {
            // Few registers: the plain loop (loads repeat, but spill nothing).
            while ox + PX <= hi {
                let mut acc = [bv; PX];
                for (t, &w) in wv.iter().enumerate() {
                    let base = rp[t / 3].add(((ox * s) + t % 3 - pl) * c);
                    for (p, acc) in acc.iter_mut().enumerate() {
                        *acc = S::fma(S::load_n(base.add(p * s * c), lanes), w, *acc);
                    }
                }
                for (p, acc) in acc.iter().enumerate() {
                    S::store_n(out.add((ox + p) * c + c0), S::relu6(*acc), lanes);
                }
                ox += PX;
            }
        } else {
            ox = if PX > 4 && narrow {
                dw_groups::<S, 4>(s, c, pl, c0, lanes, ox, hi, rp, wv, bv, out)
            } else {
                dw_groups::<S, PX>(s, c, pl, c0, lanes, ox, hi, rp, wv, bv, out)
            };
        }
        while ox < hi {
            let mut acc = bv;
            for (t, &w) in wv.iter().enumerate() {
                acc = S::fma(S::load_n(rp[t / 3].add((ox * s + t % 3 - pl) * c), lanes), w, acc);
            }
            S::store_n(out.add(ox * c + c0), S::relu6(acc), lanes);
            ox += 1;
        }
        for ox in hi..cols.end {
            dw_px::<S>(d, c0, lanes, ox, rp, wv, bv, out);
        }
    }
}

/// One output pixel with bounds checks on the columns (row edges). A function, not a closure:
/// closures do not inherit `#[target_feature]`, and the intrinsics would not inline.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_px<S: Simd>(
    d: &DwRow,
    c0: usize,
    lanes: usize,
    ox: usize,
    rp: &[*const f32; 3],
    wv: &[S::V; 9],
    bias: S::V,
    out: *mut f32,
) {
    let mut acc = bias;
    // SAFETY: as `dw_band`'s contract says; columns outside the row are skipped.
    unsafe {
        for (t, &w) in wv.iter().enumerate() {
            let ix = (ox * d.stride + t % 3).wrapping_sub(d.pad);
            if ix < d.w_in {
                acc = S::fma(S::load_n(rp[t / 3].add(ix * d.c), lanes), w, acc);
            }
        }
        S::store_n(out.add(ox * d.c + c0), S::relu6(acc), lanes);
    }
}

/// `dw_interior` for stride `s` (1 or 2), on whole vectors or the last, partial one.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_groups<S: Simd, const P: usize>(
    s: usize,
    c: usize,
    pl: usize,
    c0: usize,
    lanes: usize,
    ox: usize,
    hi: usize,
    rp: &[*const f32; 3],
    wv: &[S::V; 9],
    bv: S::V,
    out: *mut f32,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe {
        match (s, lanes == S::L) {
            (1, true) => dw_interior::<S, P, 1, true>(c, pl, c0, lanes, ox, hi, rp, wv, bv, out),
            (1, false) => dw_interior::<S, P, 1, false>(c, pl, c0, lanes, ox, hi, rp, wv, bv, out),
            (_, true) => dw_interior::<S, P, 2, true>(c, pl, c0, lanes, ox, hi, rp, wv, bv, out),
            (_, false) => dw_interior::<S, P, 2, false>(c, pl, c0, lanes, ox, hi, rp, wv, bv, out),
        }
    }
}

/// Output pixels `dw_interior::<_, P, ..>` computes at a time: `P` at stride 1, `P / 2` at
/// stride 2 (whose window of input pixels is twice as wide).
const fn group(p: usize, stride: usize) -> usize {
    if stride == 1 {
        p
    } else {
        p / 2
    }
}

/// Interior output pixels `ox..` in groups of `P` (`P / 2` at stride 2; all taps inside the
/// row), as far as `hi`;
/// returns where it stopped. Each input pixel of a row is loaded once per group and reused by
/// the taps that see it (a sliding window), so the loop is FMA-bound rather than load-bound.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_interior<S: Simd, const P: usize, const STRIDE: usize, const FULL: bool>(
    c: usize,
    pl: usize,
    c0: usize,
    lanes: usize,
    mut ox: usize,
    hi: usize,
    rp: &[*const f32; 3],
    wv: &[S::V; 9],
    bias: S::V,
    out: *mut f32,
) -> usize {
    // `acc` holds 8 outputs and `xs` a window of at most 10 pixels (8 outputs at stride 1; 4 at
    // stride 2 need 9); a larger `P` must fail to build, not index out of bounds. At stride 2,
    // `P < 2` would make empty groups that never advance.
    const { assert!(P <= 8 && (STRIDE == 1 || P >= 2), "dw_interior: P must be 1..=8 (2..=8 at stride 2)") };
    let group = group(P, STRIDE);
    let window = (group - 1) * STRIDE + 3;
    let start = ox;
    loop {
        if ox + group > hi {
            // The last few pixels: one more group ending at `hi`, recomputing (identically)
            // pixels already written, instead of slow single pixels.
            if ox >= hi || hi - start < group {
                break;
            }
            ox = hi - group;
        }
        let mut acc = [bias; 8];
        // SAFETY: interior pixels read columns `ox * STRIDE - pl ..` inside the row (by `hi`);
        // lanes as `dw_band`'s contract says.
        unsafe {
            for ky in 0..3 {
                let row = rp[ky].add((ox * STRIDE - pl) * c);
                let mut xs = [bias; 10];
                for (j, x) in xs.iter_mut().enumerate().take(window) {
                    *x = if FULL { S::load(row.add(j * c)) } else { S::load_part(row.add(j * c), lanes) };
                }
                for (p, acc) in acc.iter_mut().enumerate().take(group) {
                    for kx in 0..3 {
                        *acc = S::fma(xs[p * STRIDE + kx], wv[ky * 3 + kx], *acc);
                    }
                }
            }
            for (p, acc) in acc.iter().enumerate().take(group) {
                let o = out.add((ox + p) * c + c0);
                if FULL {
                    S::store(o, S::relu6(*acc));
                } else {
                    S::store_part(o, S::relu6(*acc), lanes);
                }
            }
        }
        ox += group;
    }
    ox
}
