//! What the column-quad depthwise kernels (`vnni_dw`, `avxvnni_dw`) share: where a column
//! quad's four rows read, the taps as quads, and the walk over a run of output rows that pairs
//! the rows whose input rows overlap.

use super::conv::dw_rows;
use super::QConv;

/// A group's taps as quads, per tap column: the three tap rows in slots 0..3 (`upper`: the
/// output row whose first input row is the quad's first) and in slots 1..4 (`lower`: the
/// output row below it, at stride 1).
pub(super) struct Taps<V> {
    pub(super) upper: [[V; 4]; 3],
    pub(super) lower: [[V; 4]; 3],
}

/// Where the four rows of a column quad read: pixel `ix` of row `i` at `ptr[i] + ix *
/// step[i]`. An absent row is a row of zero-point levels with step 0.
pub(super) struct Src {
    pub(super) ptr: [*const u8; 4],
    pub(super) step: [isize; 4],
}

/// `pass(r, src, pair)` for the output rows of `rows` (each row triple checked by `dw_rows`),
/// reading bytes from `c0` of each pixel: output row `r` alone, or (`pair`, at stride 1, when
/// row `r + 1` reads the rows `r` reads from its second on) rows `r` and `r + 1` together, the
/// quad's fourth row the lower one's last. Absent rows read `zero_row`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn row_passes(
    rows: &[[Option<&[u8]>; 3]],
    w_in: usize,
    c: usize,
    c0: usize,
    stride: usize,
    q: &QConv,
    zero_row: *const u8,
    mut pass: impl FnMut(usize, &Src, bool),
) {
    let (mut r, mut checked) = (0, None);
    while r < rows.len() {
        // Row `r`, checked already where it was the row below the last one.
        let a = checked.take().unwrap_or_else(|| dw_rows(rows[r], w_in, c, q));
        let below = (stride == 1 && r + 1 < rows.len()).then(|| dw_rows(rows[r + 1], w_in, c, q));
        let pair = below.filter(|b| b[0] == a[1] && b[1] == a[2]);
        if pair.is_none() {
            checked = below;
        }
        // A lone row's fourth quad row meets zero taps: any row does.
        let quad = [a[0], a[1], a[2], pair.map_or(a[2], |b| b[2])];
        let src = Src {
            ptr: quad.map(|p| if p.is_null() { zero_row } else { p.wrapping_add(c0) }),
            step: quad.map(|p| if p.is_null() { 0 } else { c as isize }),
        };
        pass(r, &src, pair.is_some());
        r += if pair.is_some() { 2 } else { 1 };
    }
}
