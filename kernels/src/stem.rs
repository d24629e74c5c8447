//! The stem: 3x3 stride-2 convolution of the RGB image, one output row at a time, vectorised
//! over output channels, `PX` pixels at once; bias and ReLU6 fused. `pad` (top, left) is 1 or
//! 0 zero rows/columns before the image (`Padding::before`).

use crate::simd::Simd;

/// Output rows `rows` of an `h x w_in` image to `cout` channels (`wo` columns).
///
/// # Safety
/// `x` holds `h * w_in * 3` floats, `out` the output rows; weights as `stem_row` says; the ISA
/// of `S` is present.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn stem_rows<S: Simd, const PX: usize>(
    h: usize,
    w_in: usize,
    cout: usize,
    wo: usize,
    pad: (usize, usize),
    x: *const f32,
    wt: *const f32,
    b: *const f32,
    out: *mut f32,
    rows: core::ops::Range<usize>,
) {
    for oy in rows {
        let (r, v) = crate::block::row_ptrs(x, h, w_in * 3, 2 * oy + 1 - pad.0);
        // SAFETY: forwarded contract; `row_ptrs` only yields rows inside the image.
        unsafe { stem_row::<S, PX>(w_in, cout, wo, pad.1, r, v, wt, b, out.add(oy * wo * cout)) }
    }
}

/// One output row: `rows[ky]` is image row `2 * oy + ky - pad_top`, used only if `valid[ky]`;
/// column `ox` reads image columns from `2 * ox - pad_left`.
///
/// # Safety
/// Valid rows hold `w_in * 3` floats; `out` has room for `wo * cout`; `wt` holds `27 * cout`
/// floats (`[ky][kx][ci][co]`) and `bias` `cout`; the ISA of `S` is present.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn stem_row<S: Simd, const PX: usize>(
    w_in: usize,
    cout: usize,
    wo: usize,
    pad_left: usize,
    rows: [*const f32; 3],
    valid: [bool; 3],
    wt: *const f32,
    bias: *const f32,
    out: *mut f32,
) {
    // Output columns whose 3 input columns all lie inside the row: 2 * ox + 2 - pad_left <= w_in - 1.
    let lo = pad_left.min(wo);
    let hi = if w_in + pad_left >= 3 { ((w_in + pad_left - 3) / 2 + 1).min(wo).max(lo) } else { lo };
    let mut c0 = 0;
    while c0 < cout {
        let lanes = (cout - c0).min(S::L);
        // SAFETY: as the contract says; taps outside the image are skipped.
        unsafe {
            let bv = S::load_n(bias.add(c0), lanes);
            for ox in 0..lo {
                stem_px::<S>(w_in, cout, pad_left, c0, lanes, ox, &rows, valid, wt, bv, out);
            }
            let mut ox = lo;
            loop {
                if ox + PX > hi {
                    // The last few pixels: one more group ending at `hi`, recomputing
                    // (identically) pixels already written, instead of slow single pixels.
                    if ox >= hi || hi - lo < PX {
                        break;
                    }
                    ox = hi - PX;
                }
                let mut acc = [bv; PX];
                for ky in 0..3 {
                    if !valid[ky] {
                        continue;
                    }
                    let row = rows[ky].add((2 * ox - pad_left) * 3);
                    for t in 0..9 {
                        let wv = S::load_n(wt.add((ky * 9 + t) * cout + c0), lanes);
                        let (kx, ci) = (t / 3, t % 3);
                        for (p, acc) in acc.iter_mut().enumerate() {
                            let x = S::splat(*row.add((2 * p + kx) * 3 + ci));
                            *acc = S::fma(x, wv, *acc);
                        }
                    }
                }
                for (p, acc) in acc.iter().enumerate() {
                    S::store_n(out.add((ox + p) * cout + c0), S::relu6(*acc), lanes);
                }
                ox += PX;
            }
            for ox in ox..wo {
                stem_px::<S>(w_in, cout, pad_left, c0, lanes, ox, &rows, valid, wt, bv, out);
            }
        }
        c0 += S::L;
    }
}

/// One output pixel with bounds checks on every tap (image edges). A function, not a closure:
/// closures do not inherit `#[target_feature]`, and the intrinsics would not inline.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn stem_px<S: Simd>(
    w_in: usize,
    cout: usize,
    pad_left: usize,
    c0: usize,
    lanes: usize,
    ox: usize,
    rows: &[*const f32; 3],
    valid: [bool; 3],
    wt: *const f32,
    bias: S::V,
    out: *mut f32,
) {
    let mut acc = bias;
    // SAFETY: as `stem_row`'s contract says; taps outside the image are skipped.
    unsafe {
        for ky in 0..3 {
            if !valid[ky] {
                continue;
            }
            for kx in 0..3 {
                let ix = (2 * ox + kx).wrapping_sub(pad_left);
                if ix >= w_in {
                    continue;
                }
                for ci in 0..3 {
                    let x = S::splat(*rows[ky].add(ix * 3 + ci));
                    acc = S::fma(x, S::load_n(wt.add(((ky * 3 + kx) * 3 + ci) * cout + c0), lanes), acc);
                }
            }
        }
        S::store_n(out.add(ox * cout + c0), S::relu6(acc), lanes);
    }
}
