//! 1x1 convolution as GEMM: `out[p][n] = act(bias[n] + sum_k a[p][k] * W[k][n]) (+ res[p][n])`
//! over weights packed in `NR`-wide panels. A register tile of `MR` pixels x `NV` vectors of
//! output channels accumulates over all of `k`; bias, ReLU6 and the residual add happen in the
//! epilogue, on registers. Shape-constant callers may size the tile's rows to a small map
//! (`tile_rows`); on AVX-512 a layer of at most 8, or of 17 to 24, outputs runs on pairs of `k`
//! (`pairs`).

use crate::layout::NR;
use crate::simd::Simd;

/// Operands of one GEMM. Row strides let callers address sub-blocks of NHWC tensors.
#[derive(Clone, Copy)]
pub(crate) struct Gemm {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: *const f32,
    pub lda: usize,
    /// Packed weights (`k * round_up_nr(n)` floats) and padded bias (`round_up_nr(n)`).
    pub w: *const f32,
    pub bias: *const f32,
    /// Residual to add after the activation, or null.
    pub res: *const f32,
    pub ldr: usize,
    pub out: *mut f32,
    /// The output's row stride, which is also the layer's full width (`n` is this call's share
    /// of it, from a panel boundary): the layer's width picks the kernel (`runs_on_pairs`), so
    /// that every share of a layer gets the same bits, and the pairs kernel relies on it (a
    /// share of 9 to 16 columns reads the layer's second panel).
    pub ldo: usize,
    pub relu: bool,
}

/// Run a GEMM with `MR x NV` register tiles.
///
/// # Safety
/// Every pointer must be valid for the rows and columns `g` describes; the ISA of `S` present.
#[inline(always)]
pub(crate) unsafe fn gemm<S: Simd, const MR: usize, const NV: usize>(g: &Gemm) {
    // SAFETY: forwarded contract.
    unsafe { gemm_sized::<S, MR, NV>(g, MR) }
}

/// Register tile rows for a GEMM of `pixels` rows, where that count is known when its kernel
/// is instantiated (a whole-map layer): 9, 10 or 11 where tiles of that many rows compute fewer
/// rows than `mr` = 12 does (whose last tile has 4 rows or 12): 9 pixels in one tile of 9, not
/// 12; 49 in five of 10, not four of 12 and one of 4. Otherwise `mr`.
pub(crate) const fn tile_rows(mr: usize, pixels: usize) -> usize {
    if mr != 12 || pixels == 0 {
        return mr;
    }
    let tiles = pixels.div_ceil(12);
    let rows = pixels.div_ceil(tiles);
    let rem = pixels % 12;
    let with_mr = 12 * (pixels / 12)
        + if rem == 0 {
            0
        } else if rem <= 4 {
            4
        } else {
            12
        };
    if rows >= 9 && rows < 12 && rows * tiles < with_mr {
        rows
    } else {
        mr
    }
}

/// `gemm` with tiles of `rows` rows (a `tile_rows` result) instead of `MR`. Every output is
/// the same chain of FMAs whatever the tile, so the bits do not change.
///
/// # Safety
/// As `gemm`.
#[inline(always)]
pub(crate) unsafe fn gemm_sized<S: Simd, const MR: usize, const NV: usize>(g: &Gemm, rows: usize) {
    if g.m == 0 || g.n == 0 {
        // Nothing to write; the paths below would still load a tile of bias and weights.
        return;
    }
    // SAFETY: forwarded contract.
    unsafe {
        // The layer's width (`ldo`), not this call's `n`, decides: a thread's or a channel
        // group's few columns of a wider layer must get the wider layer's bits.
        if S::PAIRS && runs_on_pairs(S::L, g.ldo) {
            return pairs::<S>(g);
        }
        // One vector of output channels: twice the pixels keep as many accumulators busy.
        if NV == 2 && MR == 12 && g.n <= S::L {
            return gemm_tiles::<S, 24, 1>(g);
        }
        match rows {
            9 if MR == 12 => gemm_tiles::<S, 9, NV>(g),
            10 if MR == 12 => gemm_tiles::<S, 10, NV>(g),
            11 if MR == 12 => gemm_tiles::<S, 11, NV>(g),
            _ => gemm_tiles::<S, MR, NV>(g),
        }
    }
}

#[inline(always)]
unsafe fn gemm_tiles<S: Simd, const MR: usize, const NV: usize>(g: &Gemm) {
    let tile_n = NV * S::L;
    let mut n0 = 0;
    while n0 < g.n {
        let cols = (g.n - n0).min(tile_n);
        let mut m0 = 0;
        while m0 < g.m {
            let rows = (g.m - m0).min(MR);
            // SAFETY: tiles stay inside `g`'s rows and (padded) columns.
            unsafe {
                if rows <= 4 && MR > 4 {
                    // Ragged last pixels: a short tile wastes less.
                    tile_cols::<S, 4, NV>(g, m0, rows, n0, cols, tile_n);
                } else {
                    tile_cols::<S, MR, NV>(g, m0, rows, n0, cols, tile_n);
                }
            }
            m0 += rows;
        }
        n0 += tile_n;
    }
}

/// Whether a layer `width` output channels wide runs on pairs of `k` (`pairs`) where the ISA
/// has them (`S::PAIRS`): when its last vector would be at most half full and the layer spans
/// at most three half vectors (`width <= L / 2`, or `L < width <= 3 L / 2`: 8 and 24 channels
/// on AVX-512). Then each half vector of channels fills a whole vector, two `k` at a time, so
/// no lane idles: 3 FMAs where 24 channels took 4. Wider layers lose a smaller share of their
/// lanes, and their tiles would get shorter.
pub(crate) const fn runs_on_pairs(l: usize, width: usize) -> bool {
    2 * width <= l || (width > l && 2 * width <= 3 * l)
}

/// A GEMM of a layer that `runs_on_pairs` (`S::PAIRS`): each half vector of output channels
/// (a group) has a vector to itself that holds every channel twice, even lanes summing the even
/// `k`, odd lanes the odd ones; each pixel's pair `a[k], a[k + 1]` is one 64-bit broadcast, and
/// the weight rows `k` and `k + 1` are interleaved once per tile. The bias is added to the two
/// sums at the end, so the bits differ from a sequential chain, but not between tiles, threads
/// or instances: every channel's arithmetic is the same whatever the groups beside it.
#[inline(always)]
unsafe fn pairs<S: Simd>(g: &Gemm) {
    // SAFETY: forwarded contract.
    unsafe {
        // A call of 9 to 16 columns (a split of a wider layer at a panel boundary; its panels
        // are padded to `NR`) runs three groups too, the third storing nothing: one tile shape
        // fewer in every instance.
        if g.n <= S::L / 2 {
            pair_rows::<S, 1>(g);
        } else {
            debug_assert!(g.ldo > NR, "a pairs call of {} columns in a layer of {}", g.n, g.ldo);
            pair_rows::<S, 3>(g);
        }
    }
}

/// `pairs` over `G` groups: one group in tiles of 24, 12 or 4 pixels; three in tiles of 8 (24
/// accumulators, beside the 3 weight vectors and the broadcast) or 4.
#[inline(always)]
unsafe fn pair_rows<S: Simd, const G: usize>(g: &Gemm) {
    let full = if G == 1 { 24 } else { 8 };
    let mut m0 = 0;
    while m0 < g.m {
        let rows = (g.m - m0).min(full);
        // SAFETY: forwarded contract.
        unsafe {
            if rows <= 4 {
                pair_tile::<S, 4, G>(g, m0, rows);
            } else if G == 1 && rows <= 12 {
                pair_tile::<S, 12, 1>(g, m0, rows);
            } else if G == 1 {
                pair_tile::<S, 24, 1>(g, m0, rows);
            } else {
                pair_tile::<S, 8, 3>(g, m0, rows);
            }
        }
        m0 += rows;
    }
}

/// Pixels `m0..m0+rows` of `pairs`, `G` groups of output channels.
#[inline(always)]
unsafe fn pair_tile<S: Simd, const MR: usize, const G: usize>(g: &Gemm, m0: usize, rows: usize) {
    let half = S::L / 2;
    // SAFETY: rows past `rows` re-read the last valid row (never stored); a group's weights are
    // `half` floats of one row of a panel (`half` divides `NR`), which exist for every `k`
    // because panels are padded to `NR` (with `G = 3` and at most 16 columns, the third group
    // reads the layer's second panel: `runs_on_pairs` layers wider than `L` have one); bias,
    // residual and output take the group's `lanes`, none past `n`.
    unsafe {
        let a: [*const f32; MR] = core::array::from_fn(|i| g.a.add((m0 + i.min(rows - 1)) * g.lda));
        let b: [*const f32; G] = core::array::from_fn(|j| {
            let c = j * half;
            g.w.add((c / NR) * g.k * NR + c % NR)
        });
        let lanes: [usize; G] = core::array::from_fn(|j| g.n.saturating_sub(j * half).min(half));
        let mut acc = [[S::splat(0.0); G]; MR];
        let mut w = [S::splat(0.0); G];
        let mut kk = 0;
        while kk + 2 <= g.k {
            for j in 0..G {
                w[j] = S::interleave_pair(b[j].add(kk * NR), b[j].add((kk + 1) * NR));
            }
            for i in 0..MR {
                let x = S::broadcast_pair(a[i].add(kk));
                for j in 0..G {
                    acc[i][j] = S::fma(x, w[j], acc[i][j]);
                }
            }
            kk += 2;
        }
        if kk < g.k {
            // An odd last `k`: its weights in both lanes of each pair, its input in the even one.
            for j in 0..G {
                w[j] = S::interleave_pair(b[j].add(kk * NR), b[j].add(kk * NR));
            }
            for i in 0..MR {
                let x = [*a[i].add(kk), 0.0];
                let x = S::broadcast_pair(x.as_ptr());
                for j in 0..G {
                    acc[i][j] = S::fma(x, w[j], acc[i][j]);
                }
            }
        }
        let mut bias = [S::splat(0.0); G];
        for j in 0..G {
            bias[j] = S::load_n(g.bias.add(j * half), lanes[j]);
        }
        for (i, acc) in acc.iter().enumerate().take(rows) {
            for j in 0..G {
                let mut v = S::add(S::fold_pairs(acc[j]), bias[j]);
                if g.relu {
                    v = S::relu6(v);
                }
                if !g.res.is_null() {
                    v = S::add(v, S::load_n(g.res.add((m0 + i) * g.ldr + j * half), lanes[j]));
                }
                S::store_n(g.out.add((m0 + i) * g.ldo + j * half), v, lanes[j]);
            }
        }
    }
}

/// A tile `NV` vectors wide, or tiles one vector wide for ragged last columns (which then
/// stay inside the padded panel).
#[inline(always)]
unsafe fn tile_cols<S: Simd, const MR: usize, const NV: usize>(
    g: &Gemm,
    m0: usize,
    rows: usize,
    n0: usize,
    cols: usize,
    tile_n: usize,
) {
    // SAFETY: forwarded contract.
    unsafe {
        if cols > tile_n - S::L || NV == 1 {
            tile::<S, MR, NV>(g, m0, rows, n0, cols);
        } else {
            let mut c0 = 0;
            while c0 < cols {
                tile::<S, MR, 1>(g, m0, rows, n0 + c0, (cols - c0).min(S::L));
                c0 += S::L;
            }
        }
    }
}

/// One register tile: pixels `m0..m0+rows`, channels `n0..n0+cols`.
#[inline(always)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(g: &Gemm, m0: usize, rows: usize, n0: usize, cols: usize) {
    // SAFETY: rows past `rows` re-read the last valid row (never stored); column vectors lie in
    // panels that exist because the packed width is a multiple of NR and NR % L == 0.
    unsafe {
        let a: [*const f32; MR] = core::array::from_fn(|i| g.a.add((m0 + i.min(rows - 1)) * g.lda));
        let b: [*const f32; NV] = core::array::from_fn(|j| {
            let c = n0 + j * S::L;
            g.w.add((c / NR) * g.k * NR + c % NR)
        });
        // Loops, not closures: closures do not inherit `#[target_feature]`.
        let mut bias = [S::splat(0.0); NV];
        for (j, v) in bias.iter_mut().enumerate() {
            *v = S::load(g.bias.add(n0 + j * S::L));
        }
        let mut acc = [bias; MR];
        let mut w = bias;
        for kk in 0..g.k {
            for (j, v) in w.iter_mut().enumerate() {
                *v = S::load(b[j].add(kk * NR));
            }
            for i in 0..MR {
                let x = S::splat(*a[i].add(kk));
                for j in 0..NV {
                    acc[i][j] = S::fma(x, w[j], acc[i][j]);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate().take(rows) {
            let out = g.out.add((m0 + i) * g.ldo + n0);
            let res = g.res.wrapping_add((m0 + i) * g.ldr + n0);
            for (j, &v) in acc.iter().enumerate() {
                let lanes = cols.saturating_sub(j * S::L).min(S::L);
                if lanes == 0 {
                    break;
                }
                let mut v = v;
                if g.relu {
                    v = S::relu6(v);
                }
                if !g.res.is_null() {
                    v = S::add(v, S::load_n(res.add(j * S::L), lanes));
                }
                S::store_n(out.add(j * S::L), v, lanes);
            }
        }
    }
}

/// Pixels (at most) and output channels of one unit when threads split a GEMM (or a block's
/// project) by tiles: about one register tile on AVX-512; whatever the tile shape, every output
/// is the same chain of FMAs, so any split gives the same bits.
pub const UNIT_ROWS: usize = 12;
pub const UNIT_COLS: usize = 2 * NR;

/// Units of a GEMM of `m` rows and `n` columns (column-major: every row chunk of one column
/// chunk, then the next, so a thread's units share weight panels).
pub const fn units(m: usize, n: usize) -> usize {
    m.div_ceil(UNIT_ROWS) * n.div_ceil(UNIT_COLS)
}

/// The rows of row chunk `chunk` of a GEMM of `m` rows: `m.div_ceil(UNIT_ROWS)` chunks as even
/// as they can be (49 pixels: 9, 10, 10, 10, 10; not 12, 12, 12, 12, 1), so that threads given
/// equal counts of units get about equal work.
pub(crate) const fn unit_rows(m: usize, chunk: usize) -> core::ops::Range<usize> {
    let chunks = m.div_ceil(UNIT_ROWS) as u128;
    if chunks == 0 {
        return 0..0;
    }
    // In u128: `m * chunk` may pass `usize` where `m` is large.
    let (m, chunk) = (m as u128, chunk as u128);
    ((m * chunk / chunks) as usize)..((m * (chunk + 1) / chunks) as usize)
}

/// The rows and columns of unit `t` (column-major, see `units`) of a GEMM of `m` rows and `n`
/// columns.
pub const fn unit_area(m: usize, n: usize, t: usize) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
    let chunks = m.div_ceil(UNIT_ROWS);
    let (col, chunk) = (t / chunks, t % chunks);
    let cols_end = if (col + 1) * UNIT_COLS < n { (col + 1) * UNIT_COLS } else { n };
    (unit_rows(m, chunk), col * UNIT_COLS..cols_end)
}

/// The GEMM of units `range` of `g` (whose `w` and `bias` start at column 0), one call per run
/// of units in the same column chunk, in tiles of `rows` rows (`tile_rows`, or `MR`).
///
/// # Safety
/// As `gemm` for the whole of `g`.
#[inline(always)]
pub(crate) unsafe fn gemm_units<S: Simd, const MR: usize, const NV: usize>(
    g: &Gemm,
    range: core::ops::Range<usize>,
    rows: usize,
) {
    let chunks = g.m.div_ceil(UNIT_ROWS);
    let mut t = range.start;
    while t < range.end {
        let count = (range.end - t).min(chunks - t % chunks);
        let (first, cols) = unit_area(g.m, g.n, t);
        let (r0, r1, c0, c1) = (first.start, unit_area(g.m, g.n, t + count - 1).0.end, cols.start, cols.end);
        // SAFETY: rows and columns stay inside `g`; `c0` is a panel boundary.
        unsafe {
            gemm_sized::<S, MR, NV>(
                &Gemm {
                    m: r1 - r0,
                    n: c1 - c0,
                    a: g.a.add(r0 * g.lda),
                    w: g.w.add((c0 / NR) * g.k * NR),
                    bias: g.bias.add(c0),
                    res: if g.res.is_null() { g.res } else { g.res.add(r0 * g.ldr + c0) },
                    out: g.out.add(r0 * g.ldo + c0),
                    ..*g
                },
                rows,
            );
        }
        t += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_rows_cover_the_pixels_in_even_chunks() {
        let sizes: [usize; 5] = core::array::from_fn(|c| unit_rows(49, c).len());
        assert_eq!(sizes, [9, 10, 10, 10, 10]);
        for m in 1usize..400 {
            let mut next = 0;
            for c in 0..m.div_ceil(UNIT_ROWS) {
                let r = unit_rows(m, c);
                assert_eq!(r.start, next, "m {m}, chunk {c}");
                assert!(!r.is_empty() && r.len() <= UNIT_ROWS, "m {m}, chunk {c}: {r:?}");
                next = r.end;
            }
            assert_eq!(next, m);
        }
        // Past `usize` in the product, still in bounds.
        let m = usize::MAX / 4;
        let last = m.div_ceil(UNIT_ROWS) - 1;
        assert_eq!(unit_rows(m, last).end, m);
        assert!(unit_rows(m, last).len() <= UNIT_ROWS);
        assert!(unit_rows(0, 0).is_empty());
    }
}
