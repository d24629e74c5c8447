//! 3x3 depthwise convolution (stride 1 or 2, padding as `Padding` says), one output row at a time, vectorised
//! over channels. Taps are unrolled with their weights held in registers; `PX` output pixels
//! are computed together for independent FMA chains. Input rows outside the image get zero
//! weights instead of branches, and only the first and last columns take the edge path.

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

/// One output row: `rows[ky]` is input row `oy * stride + ky - pad_top`, used only if
/// `valid[ky]`; column `ox` reads input columns from `ox * stride - d.pad`.
///
/// # Safety
/// Valid rows hold `w_in * c` floats, `out` has room for `wo * c`, `wt`/`bias` hold `9 * c`/`c`;
/// at least one row is valid; the ISA of `S` is present.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn dw_row<S: Simd, const PX: usize>(
    d: &DwRow,
    rows: [*const f32; 3],
    valid: [bool; 3],
    wt: *const f32,
    bias: *const f32,
    out: *mut f32,
) {
    let (c, s, pl) = (d.c, d.stride, d.pad);
    let any = if valid[1] {
        rows[1]
    } else if valid[0] {
        rows[0]
    } else {
        rows[2]
    };
    // Output columns whose 3 input columns all lie inside the row: ox * s + 2 - pl <= w_in - 1.
    let lo = pl.min(d.wo);
    let hi = if d.w_in + pl >= 3 { ((d.w_in + pl - 3) / s + 1).min(d.wo).max(lo) } else { lo };
    let mut c0 = d.ch.0;
    while c0 < d.ch.1 {
        let lanes = (d.ch.1 - c0).min(S::L);
        // SAFETY: channel offsets stay below `c`; pointers as the contract says.
        unsafe {
            // Loops, not closures: closures do not inherit `#[target_feature]`.
            let mut wv = [S::splat(0.0); 9];
            for (t, v) in wv.iter_mut().enumerate() {
                if valid[t / 3] {
                    *v = S::load_n(wt.add(t * c + c0), lanes);
                }
            }
            let rp: [*const f32; 3] = core::array::from_fn(|ky| if valid[ky] { rows[ky] } else { any }.add(c0));
            let bv = S::load_n(bias.add(c0), lanes);
            for ox in 0..lo {
                dw_px::<S>(d, c0, lanes, ox, &rp, &wv, bv, out);
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
                match (s, lanes == S::L) {
                    (1, true) => ox = dw_interior::<S, PX, 1, true>(c, pl, c0, lanes, ox, hi, &rp, &wv, bv, out),
                    (1, false) => ox = dw_interior::<S, PX, 1, false>(c, pl, c0, lanes, ox, hi, &rp, &wv, bv, out),
                    (_, true) => ox = dw_interior::<S, PX, 2, true>(c, pl, c0, lanes, ox, hi, &rp, &wv, bv, out),
                    (_, false) => ox = dw_interior::<S, PX, 2, false>(c, pl, c0, lanes, ox, hi, &rp, &wv, bv, out),
                }
            }
            while ox < hi {
                let mut acc = bv;
                for (t, &w) in wv.iter().enumerate() {
                    acc = S::fma(S::load_n(rp[t / 3].add((ox * s + t % 3 - pl) * c), lanes), w, acc);
                }
                S::store_n(out.add(ox * c + c0), S::relu6(acc), lanes);
                ox += 1;
            }
            for ox in hi..d.wo {
                dw_px::<S>(d, c0, lanes, ox, &rp, &wv, bv, out);
            }
        }
        c0 += S::L;
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
    // SAFETY: as `dw_row`'s contract says; columns outside the row are skipped.
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
    let group = if STRIDE == 1 { P } else { P / 2 };
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
        // lanes as `dw_row`'s contract says.
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
