//! The `classify` example's pipeline: preprocessing against the Keras reference's PIL-resized
//! input, `forward_rgb8` against TensorFlow's logits, the JPEG path, a wrong-length frame, and
//! torchvision's resize-and-centre-crop geometry.

use image::{Rgb, RgbImage};
use mobilenet_e2e::{max_abs_diff, repo_root};
use mobilenet_runtime::Padding;
use quickstart::{photo, top_k, KerasPhoto};
use std::path::PathBuf;

const PIXELS: usize = KerasPhoto::INPUT_HEIGHT * KerasPhoto::INPUT_WIDTH * 3;

fn repo(path: &str) -> PathBuf {
    repo_root().join(path)
}

/// TensorFlow's reference for the astronaut (image 0): its input as the bytes PIL produced
/// (`input_nhwc` is `x / 127.5 - 1` of them), its f32 input, and its logits.
fn reference() -> (Vec<u8>, Vec<f32>, Vec<f32>) {
    let bytes = std::fs::read(repo("fixtures/keras_v2_0.5_128_c10/io.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |name: &str| quickstart::le_f32s(st.tensor(name).unwrap().data());
    let input = f32s("input_nhwc")[..PIXELS].to_vec();
    let logits = f32s("logits")[..KerasPhoto::NUM_CLASSES].to_vec();
    let pixels = input
        .iter()
        .map(|&x| {
            let v = (f64::from(x) + 1.0) * 127.5;
            // The reference input is exactly 8-bit values scaled; anything else is a wrong file.
            assert!((v - v.round()).abs() < 1e-3 && (0.0..=255.0).contains(&v), "not an 8-bit value: {v}");
            v.round() as u8
        })
        .collect();
    (pixels, input, logits)
}

fn astronaut() -> Vec<u8> {
    let img = photo::load(&repo("fixtures/photos/astronaut.png")).unwrap();
    photo::preprocess(&img, KerasPhoto::PADDING, KerasPhoto::INPUT_HEIGHT, KerasPhoto::INPUT_WIDTH)
}

fn rgb8_logits(pixels: &[u8]) -> Vec<f32> {
    let model = KerasPhoto::new();
    let mut arena = KerasPhoto::arena();
    let mut logits = vec![0.0f32; KerasPhoto::NUM_CLASSES];
    model.forward_rgb8(&mut arena, pixels, &mut logits).unwrap();
    logits
}

#[test]
fn the_photo_model_is_the_keras_one() {
    assert_eq!(KerasPhoto::PADDING, Padding::Tf);
    assert_eq!((KerasPhoto::INPUT_HEIGHT, KerasPhoto::INPUT_WIDTH), (128, 128));
    assert!(KerasPhoto::LABELS.iter().all(|l| l.contains("random weights")));
}

/// PIL's BILINEAR resizes in two passes and rounds to 8 bits between them; `image`'s Triangle
/// keeps the intermediate in f32 and rounds once. Each rounding is off by at most half a level,
/// so results differ by at most one level, and only where the two roundings fall on opposite
/// sides (measured: max 1, mean 0.0875 levels, 4,299 of 49,152 values off by one).
#[test]
fn keras_preprocessing_matches_pil_bilinear() {
    let (want, _, _) = reference();
    let got = astronaut();
    assert_eq!(got.len(), want.len());
    let diffs: Vec<u8> = got.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).collect();
    let max = diffs.iter().copied().max().unwrap();
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    assert!(max <= 1, "max difference from PIL {max} levels");
    assert!(mean <= 0.15, "mean difference from PIL {mean} levels");
}

/// `forward_rgb8` on the reference's own pixels is `forward` on its floats (the normalisation is
/// a multiply-add, `x / 127.5 - 1` up to an f32 rounding) and TensorFlow's logits within 1e-4.
#[test]
fn rgb8_on_the_reference_pixels_matches_tensorflow() {
    let (pixels, input, tf) = reference();
    let got = rgb8_logits(&pixels);
    let model = KerasPhoto::new();
    let mut arena = KerasPhoto::arena();
    let mut floats = vec![0.0f32; KerasPhoto::NUM_CLASSES];
    model.forward(&mut arena, &input, &mut floats).unwrap();
    let scale = tf.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let d = max_abs_diff(&got, &floats);
    println!("forward_rgb8 vs forward on the same image: {d:.3e}");
    assert!(d <= 1e-5 * scale, "forward_rgb8 vs forward: {d}");
    let d = max_abs_diff(&got, &tf);
    println!("forward_rgb8 on the reference pixels vs TensorFlow: {d:.3e}");
    assert!(d <= 1e-4, "forward_rgb8 vs TensorFlow: {d}");
}

/// Our own resize of the astronaut, through `forward_rgb8`, against TensorFlow on PIL's resize.
/// The pixels differ by at most one level, and this network's logits hardly depend on its input
/// at all (random weights and BatchNorm statistics: TensorFlow's logits of its four different
/// photos differ by at most 1.6e-7; measured here 8.9e-8 against the reference pixels, 2.2e-7
/// against TensorFlow), so the bounds below have room to spare. They check the plumbing; the
/// preprocessing itself is checked on pixels above.
#[test]
fn rgb8_on_our_resize_matches_tensorflow() {
    let (pixels, _, tf) = reference();
    let ours = rgb8_logits(&astronaut());
    let theirs = rgb8_logits(&pixels);
    let scale = tf.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let d_ref = max_abs_diff(&ours, &theirs);
    let d_tf = max_abs_diff(&ours, &tf);
    println!("our resize vs reference pixels: {d_ref:.3e}; vs TensorFlow: {d_tf:.3e} (scale {scale})");
    assert!(d_ref <= 1e-5 * scale, "our resize vs the reference pixels: {d_ref}");
    assert!(d_tf <= 1e-4, "our resize vs TensorFlow: {d_tf}");
    assert_eq!(top_k(&ours, 1), top_k(&tf, 1));
}

#[test]
fn jpeg_decodes_and_classifies() {
    let img = photo::load(&repo("fixtures/photos/chelsea.jpg")).unwrap();
    assert_eq!(img.dimensions(), (451, 300));
    let pixels = photo::preprocess(&img, KerasPhoto::PADDING, KerasPhoto::INPUT_HEIGHT, KerasPhoto::INPUT_WIDTH);
    let logits = rgb8_logits(&pixels);
    assert!(logits.iter().all(|x| x.is_finite()));
}

#[test]
fn wrong_length_frame_is_an_error() {
    let model = KerasPhoto::new();
    let mut arena = KerasPhoto::arena();
    let mut logits = vec![0.0f32; KerasPhoto::NUM_CLASSES];
    for len in [0, PIXELS - 1, PIXELS + 3, 64 * 64 * 3] {
        assert!(model.forward_rgb8(&mut arena, &vec![0u8; len], &mut logits).is_err(), "{len} bytes accepted");
    }
}

#[test]
fn missing_or_undecodable_file_is_an_error() {
    assert!(photo::load(&repo("fixtures/photos/no_such_photo.png")).is_err());
    assert!(photo::load(&repo("fixtures/photos/README.md")).is_err());
}

/// A `w` x `h` image symmetric left-right and top-bottom, different everywhere else.
fn symmetric(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x.min(w - 1 - x), y.min(h - 1 - y));
        Rgb([(dx * 255 / (w / 2)) as u8, (dy * 255 / (h / 2)) as u8, ((dx * dy) % 251) as u8])
    })
}

/// The largest difference between `img` and its mirror image (`flip` left-right, else top-bottom).
fn asymmetry(img: &RgbImage, left_right: bool) -> u8 {
    let (w, h) = img.dimensions();
    img.enumerate_pixels()
        .map(|(x, y, p)| {
            let q = if left_right { img.get_pixel(w - 1 - x, y) } else { img.get_pixel(x, h - 1 - y) };
            p.0.iter().zip(q.0).map(|(a, b)| a.abs_diff(b)).max().unwrap()
        })
        .max()
        .unwrap()
}

/// torchvision's `Resize(256)` then `CenterCrop(224)`: 300x200 becomes 384x256, cropped at
/// (80, 16); portrait likewise. A centred crop of a symmetric image stays symmetric.
#[test]
fn torchvision_resize_and_centre_crop() {
    assert_eq!(photo::resized_size((300, 200), 224), (384, 256));
    assert_eq!(photo::resized_size((200, 300), 224), (256, 384));
    assert_eq!(photo::resized_size((500, 500), 224), (256, 256));
    assert_eq!((photo::centre_offset(384, 224), photo::centre_offset(256, 224)), (80, 16));
    // Python's round: half to even.
    assert_eq!((photo::centre_offset(257, 224), photo::centre_offset(259, 224)), (16, 18));

    for (w, h) in [(300, 200), (200, 300)] {
        let img = symmetric(w, h);
        let out = photo::torchvision(&img, 224, 224);
        assert_eq!(out.dimensions(), (224, 224));
        let (rw, rh) = photo::resized_size((w, h), 224);
        let resized = image::imageops::resize(&img, rw, rh, image::imageops::FilterType::Triangle);
        let crop = image::imageops::crop_imm(&resized, (rw - 224) / 2, (rh - 224) / 2, 224, 224).to_image();
        assert_eq!(out, crop, "{w}x{h}: not the centre of the resized image");
        // The resize itself may be asymmetric by a rounding; an off-centre crop would be far more.
        assert!(asymmetry(&resized, true) <= 1 && asymmetry(&resized, false) <= 1);
        assert!(asymmetry(&out, true) <= 1 && asymmetry(&out, false) <= 1, "{w}x{h}: crop not centred");
        let bytes = photo::preprocess(&img, Padding::Torch, 224, 224);
        assert_eq!(bytes, out.into_raw());
    }
}
