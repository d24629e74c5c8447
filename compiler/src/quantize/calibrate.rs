//! Calibration: the float model over a set of images, and the range of every tensor it makes.
//!
//! The rule is min/max: each activation's range is the smallest and largest value it takes on
//! any calibration image (widened to contain 0 by [`QParams::from_range`]). The float model is
//! the reference interpreter (`crate::reference`, BatchNorm unfolded, f64 accumulation), run
//! over the images on every core.

use super::arith::QParams;
use crate::ir::Network;
use crate::reference;
use mobilenet_kernels::checkpoint::to_f32;
use safetensors::SafeTensors;

/// The calibrated ranges: the image's, and each layer's output's (the sum, for a residual
/// block's projection).
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    pub image: (f32, f32),
    pub layers: Vec<(f32, f32)>,
}

impl Ranges {
    fn empty(layers: usize) -> Ranges {
        Ranges { image: EMPTY, layers: vec![EMPTY; layers] }
    }

    fn merge(&mut self, other: &Ranges) {
        widen(&mut self.image, other.image);
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            widen(a, *b);
        }
    }

    pub fn image_params(&self) -> QParams {
        QParams::from_range(self.image.0, self.image.1)
    }

    pub fn layer_params(&self, layer: usize) -> QParams {
        let (min, max) = self.layers[layer];
        QParams::from_range(min, max)
    }
}

const EMPTY: (f32, f32) = (f32::INFINITY, f32::NEG_INFINITY);

fn widen(range: &mut (f32, f32), other: (f32, f32)) {
    *range = (range.0.min(other.0), range.1.max(other.1));
}

fn range_of(data: &[f32]) -> (f32, f32) {
    data.iter().fold(EMPTY, |r, &v| (r.0.min(v), r.1.max(v)))
}

/// The calibration images in safetensors `bytes`: tensor `images`, `[N, H, W, 3]` floats in the
/// model's input scaling, `N >= 1`, every value finite. Errors say what the file holds instead.
pub fn read_images(bytes: &[u8], net: &Network) -> Result<(usize, Vec<f32>), String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let (h, w) = (net.input.h, net.input.w);
    let want = format!("[N, {h}, {w}, 3] (N >= 1 images, height, width, RGB)");
    let t = st.tensor("images").map_err(|_| {
        let mut names = st.names();
        names.sort_unstable();
        format!("it has no tensor `images` {want}; it holds {names:?}")
    })?;
    let shape = t.shape();
    if shape.len() != 4 || shape[1..] != [h, w, 3] {
        return Err(format!("tensor `images` has shape {shape:?}; this model needs {want}"));
    }
    if shape[0] == 0 {
        return Err(format!("tensor `images` holds no images (shape {shape:?}); it needs {want}"));
    }
    let data = to_f32(t.dtype(), t.data())
        .ok_or_else(|| format!("tensor `images` has dtype {:?}; expected F32, F16 or BF16", t.dtype()))?;
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        let per = h * w * 3;
        return Err(format!("tensor `images` has a NaN or infinity (image {}, element {})", i / per, i % per));
    }
    Ok((shape[0], data))
}

/// Ranges of the float model with torchvision `weights` over `n` images (`images`: `n` HWC
/// images, concatenated).
pub fn calibrate(net: &Network, weights: &[u8], images: &[f32], n: usize) -> Result<Ranges, mobilenet_kernels::Error> {
    let per = net.input.len();
    assert_eq!(images.len(), n * per, "calibration images: length");
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n.max(1));
    let chunk = n.div_ceil(threads).max(1) * per;
    let parts: Vec<Result<Ranges, mobilenet_kernels::Error>> = std::thread::scope(|s| {
        let workers: Vec<_> = images
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut ranges = Ranges::empty(net.layers.len());
                    for image in part.chunks_exact(per) {
                        widen(&mut ranges.image, range_of(image));
                        reference::run_observed(net, weights, image, &mut |layer, y| {
                            widen(&mut ranges.layers[layer], range_of(y))
                        })?;
                    }
                    Ok(ranges)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("calibration worker panicked")).collect()
    });
    let mut ranges = Ranges::empty(net.layers.len());
    for part in parts {
        ranges.merge(&part?);
    }
    Ok(ranges)
}
