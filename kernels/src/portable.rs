//! Portable specialised kernels: tiled for registers, written so LLVM vectorises them for
//! whatever the target offers. The const-generic entry points are what generated code calls
//! (every bound a constant); the `*_dyn` bodies take runtime shapes so property tests can
//! sweep random shapes through the very same code.

use crate::layout::NR;
use crate::reference::conv3x3_out;

/// Pixels per register tile of the 1x1 kernel.
pub const MR: usize = 4;

#[inline(always)]
fn relu6(v: f32) -> f32 {
    v.clamp(0.0, 6.0)
}

/// 3x3 stride-2 convolution of the `H x W x 3` image to `CO` channels, bias and ReLU6 fused.
pub fn stem<const H: usize, const W: usize, const CO: usize>(inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    stem_dyn(H, W, CO, inp, wt, bias, out)
}

#[inline(always)]
pub fn stem_dyn(h: usize, w: usize, co: usize, inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    let (ho, wo) = (conv3x3_out(h, 2), conv3x3_out(w, 2));
    let inp = &inp[..h * w * 3];
    let wt = &wt[..27 * co];
    let bias = &bias[..co];
    for (oy, orow) in out[..ho * wo * co].chunks_exact_mut(wo * co).enumerate() {
        for (ox, o) in orow.chunks_exact_mut(co).enumerate() {
            o.copy_from_slice(bias);
            for ky in 0..3 {
                let iy = (oy * 2 + ky).wrapping_sub(1);
                if iy >= h {
                    continue;
                }
                for kx in 0..3 {
                    let ix = (ox * 2 + kx).wrapping_sub(1);
                    if ix >= w {
                        continue;
                    }
                    let px = &inp[(iy * w + ix) * 3..][..3];
                    for (ci, &a) in px.iter().enumerate() {
                        let wr = &wt[((ky * 3 + kx) * 3 + ci) * co..][..co];
                        for (o, &wv) in o.iter_mut().zip(wr) {
                            *o += a * wv;
                        }
                    }
                }
            }
            for v in o.iter_mut() {
                *v = relu6(*v);
            }
        }
    }
}

/// 1x1 convolution of `P` pixels from `K` to `N` channels; `RELU` fuses ReLU6, `res` fuses the
/// residual add (after the activation, as in the linear bottleneck).
pub fn pointwise<const P: usize, const K: usize, const N: usize, const RELU: bool>(
    inp: &[f32],
    wt: &[f32],
    bias: &[f32],
    res: Option<&[f32]>,
    out: &mut [f32],
) {
    pointwise_dyn(P, K, N, RELU, inp, wt, bias, res, out)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn pointwise_dyn(
    p: usize,
    k: usize,
    n: usize,
    relu: bool,
    inp: &[f32],
    wt: &[f32],
    bias: &[f32],
    res: Option<&[f32]>,
    out: &mut [f32],
) {
    let panels = n.div_ceil(NR);
    let inp = &inp[..p * k];
    let wt = &wt[..panels * k * NR];
    let bias = &bias[..panels * NR];
    let out = &mut out[..p * n];
    let res = res.map(|r| &r[..p * n]);
    let mut p0 = 0;
    while p0 < p {
        let mr = MR.min(p - p0);
        for panel in 0..panels {
            let wp = &wt[panel * k * NR..][..k * NR];
            let b: &[f32; NR] = bias[panel * NR..][..NR].try_into().unwrap_or(&[0.0; NR]);
            let mut acc = [*b; MR];
            if mr == MR {
                let rows: [&[f32]; MR] = core::array::from_fn(|i| &inp[(p0 + i) * k..][..k]);
                for (kk, wr) in wp.chunks_exact(NR).enumerate() {
                    for i in 0..MR {
                        let a = rows[i][kk];
                        for j in 0..NR {
                            acc[i][j] += a * wr[j];
                        }
                    }
                }
            } else {
                for (i, acc) in acc.iter_mut().enumerate().take(mr) {
                    let row = &inp[(p0 + i) * k..][..k];
                    for (&a, wr) in row.iter().zip(wp.chunks_exact(NR)) {
                        for j in 0..NR {
                            acc[j] += a * wr[j];
                        }
                    }
                }
            }
            let n0 = panel * NR;
            let nr = NR.min(n - n0);
            for (i, acc) in acc.iter().enumerate().take(mr) {
                let o = &mut out[(p0 + i) * n + n0..][..nr];
                for (j, o) in o.iter_mut().enumerate() {
                    let mut v = acc[j];
                    if relu {
                        v = relu6(v);
                    }
                    if let Some(r) = res {
                        v += r[(p0 + i) * n + n0 + j];
                    }
                    *o = v;
                }
            }
        }
        p0 += mr;
    }
}

/// 3x3 depthwise convolution (padding 1, stride `S`) of `H x W x C`, bias and ReLU6 fused.
pub fn depthwise<const H: usize, const W: usize, const C: usize, const S: usize>(
    inp: &[f32],
    wt: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    depthwise_dyn(H, W, C, S, inp, wt, bias, out)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_dyn(h: usize, w: usize, c: usize, s: usize, inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    let (ho, wo) = (conv3x3_out(h, s), conv3x3_out(w, s));
    let inp = &inp[..h * w * c];
    let wt = &wt[..9 * c];
    let bias = &bias[..c];
    for (oy, orow) in out[..ho * wo * c].chunks_exact_mut(wo * c).enumerate() {
        for o in orow.chunks_exact_mut(c) {
            o.copy_from_slice(bias);
        }
        for ky in 0..3 {
            let iy = (oy * s + ky).wrapping_sub(1);
            if iy >= h {
                continue;
            }
            let irow = &inp[iy * w * c..][..w * c];
            for kx in 0..3 {
                let tap = &wt[(ky * 3 + kx) * c..][..c];
                // Output columns whose input column `ox * s + kx - 1` lies inside the row.
                if kx > w {
                    continue;
                }
                let lo = usize::from(kx == 0);
                let hi = ((w - kx) / s).min(wo - 1);
                for ox in lo..=hi {
                    let ix = ox * s + kx - 1;
                    let i = &irow[ix * c..][..c];
                    let o = &mut orow[ox * c..][..c];
                    for ch in 0..c {
                        o[ch] += i[ch] * tap[ch];
                    }
                }
            }
        }
        for v in orow.iter_mut() {
            *v = relu6(*v);
        }
    }
}

/// Mean over `HW` pixels of each of `C` channels.
pub fn avg_pool<const HW: usize, const C: usize>(inp: &[f32], out: &mut [f32]) {
    avg_pool_dyn(HW, C, inp, out)
}

#[inline(always)]
pub fn avg_pool_dyn(hw: usize, c: usize, inp: &[f32], out: &mut [f32]) {
    let out = &mut out[..c];
    out.fill(0.0);
    for px in inp[..hw * c].chunks_exact(c) {
        for (o, &v) in out.iter_mut().zip(px) {
            *o += v;
        }
    }
    let scale = 1.0 / hw as f32;
    for o in out.iter_mut() {
        *o *= scale;
    }
}

/// Fully connected layer from `K` to `N`, weights `[n][k]`.
pub fn linear<const K: usize, const N: usize>(inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    linear_dyn(K, N, inp, wt, bias, out)
}

#[inline(always)]
pub fn linear_dyn(k: usize, n: usize, inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    let inp = &inp[..k];
    for ((o, row), &b) in out[..n].iter_mut().zip(wt[..n * k].chunks_exact(k)).zip(&bias[..n]) {
        // Eight partial sums let LLVM vectorise the reduction.
        let mut acc = [0.0f32; 8];
        let mut chunks = row.chunks_exact(8);
        let mut xs = inp.chunks_exact(8);
        for (wc, xc) in (&mut chunks).zip(&mut xs) {
            for j in 0..8 {
                acc[j] += wc[j] * xc[j];
            }
        }
        let tail: f32 = chunks.remainder().iter().zip(xs.remainder()).map(|(a, b)| a * b).sum();
        *o = b + acc.iter().sum::<f32>() + tail;
    }
}
