//! The int8 kernel bodies, portable: one output row (or run of pixels) at a time, products in
//! i32, requantized per channel. The portable path runs them (aarch64, where LLVM vectorises the
//! channel loops for NEON, and x86 without AVX2); the x86 paths have their own kernels (`avx2`,
//! `vnni`) and share the pooling and the stem's patch gathering. Layouts as `pack` in the
//! compiler writes them (see the module above).

use super::arith::{requantize, requantize_add};
use super::isa::Ops;
use super::{dw_lane, Image, QConv, QLinear, QShortcut};
use core::ops::Range;

/// Channels the depthwise accumulates at once (a stack array, so the tap loop vectorises).
const DW_CHUNK: usize = 32;
/// Output pixels of the stem whose input patches are gathered at once.
pub(crate) const STEM_PX: usize = 56;
/// Bytes of a stem patch: 27 levels and a zero (the packed weights' 28th input is zero too).
pub(crate) const STEM_K: usize = 28;

/// The 16 channels' sums of one tile of packed weights (`[k / 4][16][4]`) over the levels `x`
/// (zeros past `x.len()`).
#[inline(always)]
fn tile_sums(x: &[u8], wt: &[i8]) -> [i32; 16] {
    let mut acc = [0i32; 16];
    for (g, wg) in wt.chunks_exact(64).enumerate() {
        let xs: [i32; 4] = core::array::from_fn(|j| x.get(4 * g + j).map_or(0, |&v| i32::from(v)));
        for (a, w4) in acc.iter_mut().zip(wg.chunks_exact(4)) {
            for j in 0..4 {
                *a += i32::from(w4[j]) * xs[j];
            }
        }
    }
    acc
}

/// 1x1 convolution of `out.len() / n` pixels: `x` holds `k` levels a pixel, `out` gets `n`;
/// with a shortcut, `res` holds `n` levels a pixel, added in the requantization. Weights come
/// in tiles of 16 output channels, `[k / 4][16][4]` (zero-padded), and the bias has the input's
/// zero point folded in (`bias - zero_point * sum(weights)`), so levels enter unchanged.
#[inline(always)]
pub(crate) fn pointwise(x: &[u8], k: usize, n: usize, q: &QConv, res: Option<(&[u8], QShortcut)>, out: &mut [u8]) {
    let pixels = out.len() / n;
    let k4 = k.div_ceil(4);
    let x = &x[..pixels * k];
    for p in 0..pixels {
        let xr = &x[p * k..(p + 1) * k];
        for t in 0..n.div_ceil(16) {
            let acc = tile_sums(xr, &q.weight[t * k4 * 64..(t + 1) * k4 * 64]);
            for (l, &a) in acc.iter().enumerate().take(n - t * 16) {
                let c = t * 16 + l;
                let acc = a + q.bias[c];
                out[p * n + c] = match res {
                    None => requantize(acc, q.m[c], q.shift[c] as u32, q.output_zero, q.clamp),
                    Some((r, s)) => {
                        let r = i32::from(r[p * n + c]) - s.zero;
                        requantize_add(acc, q.m[c], r, s.m[c], q.shift[c] as u32, q.output_zero, q.clamp)
                    }
                };
            }
        }
    }
}

/// The SIMD depthwise rows' operand checks (per-channel arrays padded to whole groups of 64,
/// present rows of `w_in * c` levels), and the rows as base pointers: null where absent.
#[cfg(target_arch = "x86_64")]
pub(crate) fn dw_rows(rows: [Option<&[u8]>; 3], w_in: usize, c: usize, q: &QConv) -> [*const u8; 3] {
    let cp = c.next_multiple_of(64);
    assert!(q.weight.len() >= 9 * c && q.bias.len() >= cp && q.m.len() >= cp && q.shift.len() >= cp);
    assert!(rows.iter().flatten().all(|r| r.len() >= w_in * c), "internal error: depthwise rows");
    rows.map(|r| r.map_or(core::ptr::null(), <[u8]>::as_ptr))
}

/// The 4 bytes of group `g` of a `k`-byte row (zeros past `k`), for the SIMD kernels.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn group(row: *const u8, g: usize, k: usize) -> i32 {
    // SAFETY: bytes below `k` lie in the row.
    unsafe {
        if 4 * g + 4 <= k {
            (row.add(4 * g) as *const i32).read_unaligned()
        } else {
            let mut b = [0u8; 4];
            for (j, v) in b.iter_mut().enumerate().take(k - 4 * g) {
                *v = *row.add(4 * g + j);
            }
            i32::from_le_bytes(b)
        }
    }
}

/// `row` for each row triple of `rows` and its output row (`out` holds `rows.len()` equal ones):
/// the bands of the depthwise kernels that work a row at a time.
#[inline(always)]
pub(crate) fn by_rows(rows: &[[Option<&[u8]>; 3]], out: &mut [u8], mut row: impl FnMut([Option<&[u8]>; 3], &mut [u8])) {
    let len = out.len() / rows.len().max(1);
    for (&src, o) in rows.iter().zip(out.chunks_exact_mut(len)) {
        row(src, o);
    }
}

/// One output row of a 3x3 depthwise convolution at `stride`: `rows[ky]` is the input row the
/// tap row `ky` reads (`w_in * c` levels), `None` where it falls in the padding; `pad_l`
/// columns of padding on the left; `out` gets `wo * c` levels. Tap `t`'s weights start at
/// `t * taps` (`DwShape::taps`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn dw_row(
    rows: [Option<&[u8]>; 3],
    w_in: usize,
    c: usize,
    taps: usize,
    stride: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / c;
    let w = &q.weight[..8 * taps + c];
    let mut c0 = 0;
    while c0 < c {
        let len = DW_CHUNK.min(c - c0);
        for ox in 0..wo {
            let mut acc = [0i32; DW_CHUNK];
            for (ky, row) in rows.iter().enumerate() {
                let Some(row) = row else { continue };
                for kx in 0..3 {
                    let ix = (ox * stride + kx).wrapping_sub(pad_l);
                    if ix >= w_in {
                        continue;
                    }
                    let xs = &row[ix * c + c0..][..len];
                    let ws = &w[(ky * 3 + kx) * taps + c0..][..len];
                    for j in 0..len {
                        acc[j] += i32::from(ws[j]) * (i32::from(xs[j]) - q.input_zero);
                    }
                }
            }
            let o = &mut out[ox * c + c0..][..len];
            for j in 0..len {
                let l = dw_lane(c0 + j);
                o[j] = requantize(acc[j] + q.bias[l], q.m[l], q.shift[l] as u32, q.output_zero, q.clamp);
            }
        }
        c0 += len;
    }
}

/// The input patches of `n` stem output pixels from column `ox0` of the output row whose tap
/// row `ky` reads image row `top + ky - 1` (tap column `kx` of output column `ox`: image column
/// `2 * ox + kx - pad_l`): `STEM_K` bytes a pixel, 27 levels `[ky][kx][ci]` (padding at the
/// image's zero point) and a zero, so that every group of 4 is whole. Each image value is
/// quantized once per call (`o.quantize`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn stem_patches<O: Ops>(
    o: O,
    img: Image,
    img_h: usize,
    img_w: usize,
    top: usize,
    pad_l: usize,
    ox0: usize,
    n: usize,
    zero: i32,
    patches: &mut [u8],
) {
    const COLS: usize = 2 * STEM_PX + 1;
    let mut win = [[zero as u8; COLS * 3]; 3];
    let cols = 2 * n + 1;
    // Image columns `first..first + cols` (`first` may be negative), clipped to the image.
    let first = (2 * ox0) as isize - pad_l as isize;
    let start = first.max(0) as usize;
    let skip = (start as isize - first) as usize;
    let end = ((first + cols as isize).max(0) as usize).min(img_w);
    for (ky, wr) in win.iter_mut().enumerate() {
        let iy = (top + ky).wrapping_sub(1);
        if iy >= img_h || start >= end {
            continue;
        }
        let dst = &mut wr[skip * 3..(skip + end - start) * 3];
        let src = (iy * img_w + start) * 3..(iy * img_w + end) * 3;
        match img {
            Image::Floats { x, inverse_scale, zero_point } => o.quantize(&x[src], inverse_scale, zero_point, dst),
            Image::Levels(l) => dst.copy_from_slice(&l[src]),
        }
    }
    for (p, patch) in patches[..n * STEM_K].chunks_exact_mut(STEM_K).enumerate() {
        for (ky, wr) in win.iter().enumerate() {
            patch[ky * 9..ky * 9 + 9].copy_from_slice(&wr[p * 6..p * 6 + 9]);
        }
        patch[27] = 0;
    }
}

/// Logits `out[c - classes.start]` for `classes` of the pooled features `x` (`k` levels): the
/// weights in tiles of 16 classes like `pointwise`, the input's zero point folded into the bias.
#[inline(always)]
pub(crate) fn linear(x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
    let (x, k4) = (&x[..k], k.div_ceil(4));
    for t in classes.start / 16..classes.end.div_ceil(16) {
        let acc = tile_sums(x, &q.weight[t * k4 * 64..(t + 1) * k4 * 64]);
        for (l, &a) in acc.iter().enumerate() {
            let c = t * 16 + l;
            if classes.contains(&c) {
                out[c - classes.start] = (a + q.bias[c]) as f32 * q.scales[c];
            }
        }
    }
}

/// `arith::quantize` of each of `x` into `out`.
#[inline(always)]
pub(crate) fn quantize(x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = super::arith::quantize(v, inverse_scale, zero_point);
    }
}

/// Global average pooling: each channel's rounded mean level.
#[inline(always)]
pub(crate) fn avg_pool(x: &[u8], c: usize, out: &mut [u8]) {
    let n = (x.len() / c) as u32;
    for (ch, o) in out[..c].iter_mut().enumerate() {
        let sum: u32 = x.chunks_exact(c).map(|px| u32::from(px[ch])).sum();
        *o = ((sum + n / 2) / n) as u8;
    }
}
