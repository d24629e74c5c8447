//! 8-bit RGB frames to the normalised f32 image the network takes, `(x / 255 - mean) / std`
//! per channel, as one multiply-add per value with constants the compiler derives from the spec.

use crate::Error;

/// Normalise `pixels` (HWC, RGB) into `out`: `out[i] = pixels[i] * scale[c] + bias[c]` with
/// `c = i % 3`. `Err` unless `pixels` holds exactly `out.len()` values.
pub fn normalize_rgb8(pixels: &[u8], scale: &[f32; 3], bias: &[f32; 3], out: &mut [f32]) -> Result<(), Error> {
    if pixels.len() != out.len() {
        return Err(Error::PixelsLength { expected: out.len(), found: pixels.len() });
    }
    for (o, p) in out.chunks_exact_mut(3).zip(pixels.chunks_exact(3)) {
        for c in 0..3 {
            o[c] = mul_add(f32::from(p[c]), scale[c], bias[c]);
        }
    }
    Ok(())
}

/// `a * b + c` rounded once. `core` has no `mul_add`; without `std` it is rounded twice (the
/// difference is below the 1e-4 the outputs are checked to).
#[inline(always)]
pub(crate) fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(feature = "std")]
    return a.mul_add(b, c);
    #[cfg(not(feature = "std"))]
    return a * b + c;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_each_channel_and_checks_the_length() {
        // torchvision's ImageNet constants, as the compiler derives them.
        let (mean, std) = ([0.485f64, 0.456, 0.406], [0.229f64, 0.224, 0.225]);
        let scale = core::array::from_fn(|c| (1.0 / (255.0 * std[c])) as f32);
        let bias = core::array::from_fn(|c| (-mean[c] / std[c]) as f32);
        let pixels = [0u8, 128, 255, 17, 3, 250];
        let mut out = [0.0f32; 6];
        normalize_rgb8(&pixels, &scale, &bias, &mut out).unwrap();
        for (i, (&p, &o)) in pixels.iter().zip(&out).enumerate() {
            let want = (p as f64 / 255.0 - mean[i % 3]) / std[i % 3];
            assert!((o as f64 - want).abs() < 1e-6, "{i}: {o} vs {want}");
        }
        let e = normalize_rgb8(&pixels[..5], &scale, &bias, &mut out).unwrap_err();
        assert!(matches!(e, Error::PixelsLength { expected: 6, found: 5 }));
    }
}
