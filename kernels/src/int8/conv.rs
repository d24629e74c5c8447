//! The int8 kernel bodies, portable: one output row (or run of pixels) at a time, products in
//! i32, requantized per channel. Shapes come as arguments; the entry points inline them with
//! constant shapes, and compile them once more with AVX2 or AVX-512 enabled where the CPU has it
//! (LLVM vectorises the channel loops). The stem's weights are tap-major, `[ci][ky][kx][cout]`.

use super::arith::{requantize, requantize_add};
use super::{Image, QConv, QLinear, QShortcut};

/// Channels the depthwise accumulates at once (a stack array, so the tap loop vectorises).
const DW_CHUNK: usize = 32;
/// Output channels the stem accumulates at once.
const STEM_CHUNK: usize = 32;

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
            let wt = &q.weight[t * k4 * 64..(t + 1) * k4 * 64];
            let mut acc = [0i32; 16];
            for (g, wg) in wt.chunks_exact(64).enumerate() {
                let xs: [i32; 4] = core::array::from_fn(|j| xr.get(4 * g + j).map_or(0, |&v| i32::from(v)));
                for (a, w4) in acc.iter_mut().zip(wg.chunks_exact(4)) {
                    for j in 0..4 {
                        *a += i32::from(w4[j]) * xs[j];
                    }
                }
            }
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

/// One output row of a 3x3 depthwise convolution at `stride`: `rows[ky]` is the input row the
/// tap row `ky` reads (`w_in * c` levels), `None` where it falls in the padding; `pad_l`
/// columns of padding on the left; `out` gets `wo * c` levels.
#[inline(always)]
pub(crate) fn dw_row(
    rows: [Option<&[u8]>; 3],
    w_in: usize,
    c: usize,
    stride: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / c;
    let w = &q.weight[..9 * c];
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
                    let ws = &w[(ky * 3 + kx) * c + c0..][..len];
                    for j in 0..len {
                        acc[j] += i32::from(ws[j]) * (i32::from(xs[j]) - q.input_zero);
                    }
                }
            }
            let o = &mut out[ox * c + c0..][..len];
            for j in 0..len {
                let ch = c0 + j;
                o[j] = requantize(acc[j] + q.bias[ch], q.m[ch], q.shift[ch] as u32, q.output_zero, q.clamp);
            }
        }
        c0 += len;
    }
}

/// One output row of the stem (3x3, stride 2, 3 channels in, `cout` out) over the `img_h x
/// img_w` image: tap row `ky` reads image row `top + ky - 1` (outside the image: padding),
/// tap column `kx` of output column `ox` image column `2 * ox + kx - pad_l`. `out` gets
/// `wo * cout` levels.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn stem_row(
    img: Image,
    img_h: usize,
    img_w: usize,
    cout: usize,
    top: usize,
    pad_l: usize,
    q: &QConv,
    out: &mut [u8],
) {
    let wo = out.len() / cout;
    let w = &q.weight[..27 * cout];
    for ox in 0..wo {
        let patch = stem_patch(img, img_h, img_w, top, pad_l, ox, q.input_zero);
        let mut c0 = 0;
        while c0 < cout {
            let len = STEM_CHUNK.min(cout - c0);
            let mut acc = [0i32; STEM_CHUNK];
            for (t, &v) in patch.iter().enumerate() {
                let wt = &w[t * cout + c0..][..len];
                for j in 0..len {
                    acc[j] += i32::from(wt[j]) * v;
                }
            }
            let o = &mut out[ox * cout + c0..][..len];
            for j in 0..len {
                let c = c0 + j;
                o[j] = requantize(acc[j] + q.bias[c], q.m[c], q.shift[c] as u32, q.output_zero, q.clamp);
            }
            c0 += len;
        }
    }
}

/// The stem's window for output column `ox`, minus the zero point, in the weights' order
/// (ci, ky, kx); padding is 0.
#[inline(always)]
pub(crate) fn stem_patch(
    img: Image,
    img_h: usize,
    img_w: usize,
    top: usize,
    pad_l: usize,
    ox: usize,
    zero: i32,
) -> [i32; 27] {
    match img {
        Image::Floats { x, inverse_scale, zero_point } => {
            let level = |i: usize| super::arith::quantize(x[i], inverse_scale, zero_point);
            patch_with(level, img_h, img_w, top, pad_l, ox, zero)
        }
        Image::Levels(l) => patch_with(|i: usize| l[i], img_h, img_w, top, pad_l, ox, zero),
    }
}

#[inline(always)]
fn patch_with(
    level: impl Fn(usize) -> u8,
    img_h: usize,
    img_w: usize,
    top: usize,
    pad_l: usize,
    ox: usize,
    zero: i32,
) -> [i32; 27] {
    let mut patch = [0i32; 27];
    for ky in 0..3 {
        let iy = (top + ky).wrapping_sub(1);
        if iy >= img_h {
            continue;
        }
        for kx in 0..3 {
            let ix = (2 * ox + kx).wrapping_sub(pad_l);
            if ix >= img_w {
                continue;
            }
            for ci in 0..3 {
                patch[ci * 9 + ky * 3 + kx] = i32::from(level((iy * img_w + ix) * 3 + ci)) - zero;
            }
        }
    }
    patch
}

/// Logits `out[c]` (for the classes `out` covers, from `c0`) of the pooled features `x`.
#[inline(always)]
pub(crate) fn linear(x: &[u8], k: usize, c0: usize, q: &QLinear, out: &mut [f32]) {
    let x = &x[..k];
    for (i, o) in out.iter_mut().enumerate() {
        let c = c0 + i;
        let wr = &q.weight[c * k..(c + 1) * k];
        let mut acc = 0i32;
        for j in 0..k {
            acc += i32::from(wr[j]) * (i32::from(x[j]) - q.input_zero);
        }
        *o = (acc + q.bias[c]) as f32 * q.scales[c];
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
