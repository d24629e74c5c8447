//! Photos to `forward_rgb8` input: decode a JPEG or PNG, resize it the way the model's training
//! pipeline did (chosen by the model's `PADDING`), and return height x width x RGB bytes.

use image::imageops::{self, FilterType};
use image::{ImageReader, RgbImage};
use mobilenet_runtime::Padding;
use std::path::Path;

/// Decode a JPEG or PNG file (format from its contents, not its name) to 8-bit RGB.
pub fn load(path: &Path) -> Result<RgbImage, image::ImageError> {
    Ok(ImageReader::open(path)?.with_guessed_format()?.decode()?.to_rgb8())
}

/// `img` as the network's `height` x `width` x RGB input bytes, resized by the pipeline that
/// models of this padding convention were trained with: Keras's for `Tf`, torchvision's for
/// `Torch`.
pub fn preprocess(img: &RgbImage, padding: Padding, height: usize, width: usize) -> Vec<u8> {
    let (h, w) = (dim(height), dim(width));
    match padding {
        Padding::Tf => keras(img, h, w),
        Padding::Torch => torchvision(img, h, w),
    }
    .into_raw()
}

/// Keras applications (`image.load_img(target_size=...)`, PIL bilinear): the whole image
/// resized to `height` x `width`, aspect ratio not kept.
pub fn keras(img: &RgbImage, height: u32, width: u32) -> RgbImage {
    // Triangle widens its support by the scale factor when downscaling, as PIL's BILINEAR does;
    // a fixed 2x2 bilinear would alias.
    imageops::resize(img, width, height, FilterType::Triangle)
}

/// torchvision's evaluation transform (`Resize(256)`, `CenterCrop(224)` for a 224 input):
/// the shorter side resized to `round(side * 256 / 224)`, aspect kept, then the centre
/// `height` x `width`. `side` is the larger of the two, so the crop always fits.
pub fn torchvision(img: &RgbImage, height: u32, width: u32) -> RgbImage {
    let (rw, rh) = resized_size(img.dimensions(), height.max(width));
    let resized = imageops::resize(img, rw, rh, FilterType::Triangle);
    let (left, top) = (centre_offset(rw, width), centre_offset(rh, height));
    imageops::crop_imm(&resized, left, top, width, height).to_image()
}

/// The size `(width, height)` torchvision's `Resize(round(side * 256 / 224))` gives an image of
/// `(w, h)`: the shorter side set, the longer one scaled and truncated (torchvision's `int()`).
pub fn resized_size((w, h): (u32, u32), side: u32) -> (u32, u32) {
    let short = (f64::from(side) * 256.0 / 224.0).round() as u32;
    let scale = |long: u32, shorter: u32| (u64::from(short) * u64::from(long) / u64::from(shorter.max(1))) as u32;
    if w <= h {
        (short, scale(h, w))
    } else {
        (scale(w, h), short)
    }
}

/// torchvision's `CenterCrop` offset, `round((size - crop) / 2)` with Python's round half to even.
pub fn centre_offset(size: u32, crop: u32) -> u32 {
    let d = size.saturating_sub(crop);
    let half = d / 2;
    if d % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

fn dim(v: usize) -> u32 {
    u32::try_from(v).expect("the model's input size fits in u32")
}
