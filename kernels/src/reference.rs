//! Reference kernels: direct loops over the packed layouts, no tiling, no tricks. The
//! specialised kernels are property-tested against these.

use crate::layout::NR;

/// Output size along one axis of PyTorch's `Conv2d` with kernel `k`, `stride` and zero
/// padding `pad`: the one formula the compiler's shapes and both references use.
pub const fn conv_out(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - k) / stride + 1
}

/// Output size of a 3x3 convolution with padding 1 (every 3x3 layer of MobileNetV2). TF's
/// "SAME" padding gives the same size (`ceil(size / stride)`); only where the zeros go differs.
pub const fn conv3x3_out(size: usize, stride: usize) -> usize {
    conv_out(size, 3, stride, 1)
}

/// Where a 3x3 convolution's zero padding goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Padding {
    /// PyTorch's `padding=1`: one zero row and column on every side.
    #[default]
    Torch,
    /// TensorFlow's "SAME" (Keras): as `Torch`, except at stride 2 on an even side, where the
    /// single zero row (column) goes after the input only.
    Tf,
}

impl Padding {
    /// `Tf` if `tf`, else `Torch` (for const generic entry points, which take a `bool`).
    pub const fn of_tf(tf: bool) -> Padding {
        if tf {
            Padding::Tf
        } else {
            Padding::Torch
        }
    }

    /// Zero rows (or columns) before the input along an axis of `size` at `stride`: 1 or 0.
    pub const fn before(self, size: usize, stride: usize) -> usize {
        match self {
            Padding::Tf if stride == 2 && size.is_multiple_of(2) => 0,
            _ => 1,
        }
    }
}

fn relu6(v: f32) -> f32 {
    v.clamp(0.0, 6.0)
}

/// 3x3 stride-2 convolution of an `h x w x 3` image; weights `[ky][kx][ci][co]`.
#[allow(clippy::too_many_arguments)]
pub fn stem(h: usize, w: usize, cout: usize, pad: Padding, inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    let (ho, wo) = (conv3x3_out(h, 2), conv3x3_out(w, 2));
    let (pt, pl) = (pad.before(h, 2) as isize, pad.before(w, 2) as isize);
    for oy in 0..ho {
        for ox in 0..wo {
            for co in 0..cout {
                let mut acc = bias[co];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let (iy, ix) = ((oy * 2 + ky) as isize - pt, (ox * 2 + kx) as isize - pl);
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        for ci in 0..3 {
                            let a = inp[(iy as usize * w + ix as usize) * 3 + ci];
                            acc += a * wt[((ky * 3 + kx) * 3 + ci) * cout + co];
                        }
                    }
                }
                out[(oy * wo + ox) * cout + co] = relu6(acc);
            }
        }
    }
}

/// 1x1 convolution of `p` pixels from `k` to `n` channels; weights in `NR`-wide panels.
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
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
    for px in 0..p {
        for co in 0..n {
            let (panel, lane) = (co / NR, co % NR);
            let mut acc = bias[co];
            for ci in 0..k {
                acc += inp[px * k + ci] * wt[(panel * k + ci) * NR + lane];
            }
            if relu {
                acc = relu6(acc);
            }
            if let Some(r) = res {
                acc += r[px * n + co];
            }
            out[px * n + co] = acc;
        }
    }
}

/// 3x3 depthwise convolution, then ReLU6; weights `[tap][c]`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    h: usize,
    w: usize,
    c: usize,
    stride: usize,
    pad: Padding,
    inp: &[f32],
    wt: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let (ho, wo) = (conv3x3_out(h, stride), conv3x3_out(w, stride));
    let (pt, pl) = (pad.before(h, stride) as isize, pad.before(w, stride) as isize);
    for oy in 0..ho {
        for ox in 0..wo {
            for ch in 0..c {
                let mut acc = bias[ch];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let iy = (oy * stride + ky) as isize - pt;
                        let ix = (ox * stride + kx) as isize - pl;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        acc += inp[(iy as usize * w + ix as usize) * c + ch] * wt[(ky * 3 + kx) * c + ch];
                    }
                }
                out[(oy * wo + ox) * c + ch] = relu6(acc);
            }
        }
    }
}

/// Mean over `hw` pixels of each of `c` channels.
pub fn avg_pool(hw: usize, c: usize, inp: &[f32], out: &mut [f32]) {
    for ch in 0..c {
        let sum: f32 = (0..hw).map(|px| inp[px * c + ch]).sum();
        out[ch] = sum / hw as f32;
    }
}

/// Fully connected layer, weights packed like a 1x1 convolution.
pub fn linear(k: usize, n: usize, inp: &[f32], wt: &[f32], bias: &[f32], out: &mut [f32]) {
    pointwise(1, k, n, false, inp, wt, bias, None, out)
}
