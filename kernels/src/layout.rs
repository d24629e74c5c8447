//! How folded weights are laid out for the kernels. The compiler (baking weights at build
//! time) and the runtime loader (`from_safetensors`) both pack through these functions, so the
//! two paths cannot disagree.

/// Output channels per packed panel of a 1x1 convolution: one AVX-512 vector, two AVX2 vectors.
pub const NR: usize = 16;

/// Round `n` up to a whole number of panels.
pub const fn round_up_nr(n: usize) -> usize {
    n.div_ceil(NR) * NR
}

/// One parameterised layer: a convolution with its BatchNorm (folded into it), or the classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// 3x3 convolution over the 3-channel image.
    Stem { cout: usize },
    /// 1x1 convolution.
    Pointwise { cin: usize, cout: usize },
    /// 3x3 depthwise convolution.
    Depthwise { channels: usize },
    /// The final fully connected layer (has its own bias, no BatchNorm).
    Linear { cin: usize, cout: usize },
}

impl ParamKind {
    /// Output channels.
    pub const fn cout(self) -> usize {
        match self {
            ParamKind::Stem { cout } => cout,
            ParamKind::Pointwise { cout, .. } => cout,
            ParamKind::Depthwise { channels } => channels,
            ParamKind::Linear { cout, .. } => cout,
        }
    }

    /// Shape of the weight tensor as torchvision stores it (OIHW, or [out, in] for Linear).
    #[cfg(feature = "std")]
    pub fn torch_shape(self) -> std::vec::Vec<usize> {
        match self {
            ParamKind::Stem { cout } => std::vec![cout, 3, 3, 3],
            ParamKind::Pointwise { cin, cout } => std::vec![cout, cin, 1, 1],
            ParamKind::Depthwise { channels } => std::vec![channels, 1, 3, 3],
            ParamKind::Linear { cin, cout } => std::vec![cout, cin],
        }
    }

    /// Floats of the packed weights.
    pub const fn weight_len(self) -> usize {
        match self {
            ParamKind::Stem { cout } => 27 * cout,
            ParamKind::Pointwise { cin, cout } => cin * round_up_nr(cout),
            ParamKind::Depthwise { channels } => 9 * channels,
            ParamKind::Linear { cin, cout } => cin * round_up_nr(cout),
        }
    }

    /// Floats of the packed bias.
    pub const fn bias_len(self) -> usize {
        match self {
            ParamKind::Pointwise { cout, .. } | ParamKind::Linear { cout, .. } => round_up_nr(cout),
            other => other.cout(),
        }
    }

    /// Floats of weights plus bias.
    pub const fn packed_len(self) -> usize {
        self.weight_len() + self.bias_len()
    }

    /// Pack folded torch-layout weights `w` and bias `b` into `out` (`packed_len` floats):
    /// weights first, bias after.
    pub fn pack(self, w: &[f32], b: &[f32], out: &mut [f32]) {
        let (pw, pb) = out.split_at_mut(self.weight_len());
        pb.fill(0.0);
        pb[..b.len()].copy_from_slice(b);
        match self {
            // [co][ci][ky][kx] -> [ky][kx][ci][co]: the stem vectorises over output channels.
            ParamKind::Stem { cout } => {
                for co in 0..cout {
                    for ci in 0..3 {
                        for t in 0..9 {
                            pw[(t * 3 + ci) * cout + co] = w[(co * 3 + ci) * 9 + t];
                        }
                    }
                }
            }
            // [co][ci] -> panels of NR output channels, each [ci][NR], zero padded. The
            // classifier is a 1x1 convolution of one pixel.
            ParamKind::Pointwise { cin, cout } | ParamKind::Linear { cin, cout } => {
                pw.fill(0.0);
                for co in 0..cout {
                    let (panel, lane) = (co / NR, co % NR);
                    for ci in 0..cin {
                        pw[(panel * cin + ci) * NR + lane] = w[co * cin + ci];
                    }
                }
            }
            // [c][ky][kx] -> [tap][c]: the depthwise kernel vectorises over channels.
            ParamKind::Depthwise { channels } => {
                for c in 0..channels {
                    for t in 0..9 {
                        pw[t * channels + c] = w[c * 9 + t];
                    }
                }
            }
        }
    }
}

/// A layer's parameters in the checkpoint and in the packed parameter buffer.
#[derive(Clone, Copy, Debug)]
pub struct ParamLayer<'a> {
    /// Prefix of the weight tensor, e.g. `features.1.conv.0.0` (tensor `<prefix>.weight`).
    pub conv: &'a str,
    /// Prefix of the BatchNorm folded into it, e.g. `features.1.conv.0.1`; `None` for Linear.
    pub bn: Option<&'a str>,
    pub kind: ParamKind,
    /// Where the packed weights start in the parameter buffer (the bias follows them).
    pub offset: usize,
}
