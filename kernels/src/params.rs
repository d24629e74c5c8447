//! A model's folded, packed parameters (owned or baked into the binary), and the operand checks
//! the generated entry points run before any kernel: input, logits and batch lengths, the batch
//! arena and the threads' scratch split.

use crate::Error;

/// Folded, packed parameters of a model: owned when loaded at run time (`std` only), borrowed
/// from the binary when baked in at compile time.
#[derive(Clone)]
pub struct Params(Inner);

#[derive(Clone)]
enum Inner {
    #[cfg(feature = "std")]
    Owned(std::vec::Vec<f32>),
    Baked(&'static [f32]),
}

/// Gives baked weight bytes the alignment of f32 (and of a cache line).
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

impl Params {
    #[cfg(feature = "std")]
    pub fn owned(v: std::vec::Vec<f32>) -> Params {
        Params(Inner::Owned(v))
    }

    /// Parameters baked into the binary as little-endian f32 bytes (in an `Aligned` static).
    /// Borrowed in place on little-endian targets; with `std`, converted once on big-endian ones.
    #[cfg(any(feature = "std", target_endian = "little"))]
    pub fn baked(bytes: &'static [u8]) -> Params {
        #[cfg(target_endian = "little")]
        if let Ok(floats) = bytemuck::try_cast_slice::<u8, f32>(bytes) {
            return Params(Inner::Baked(floats));
        }
        #[cfg(feature = "std")]
        {
            let floats = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            Params(Inner::Owned(floats))
        }
        // Without an allocator there is no copy to fall back to; `Aligned` statics always cast.
        #[cfg(not(feature = "std"))]
        Params(Inner::Baked(bytemuck::cast_slice(bytes)))
    }

    /// The parameters' bytes (an int8 model's blob).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self.as_slice())
    }

    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        match &self.0 {
            #[cfg(feature = "std")]
            Inner::Owned(v) => v,
            Inner::Baked(s) => s,
        }
    }
}

impl core::fmt::Debug for Params {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let how = match self.0 {
            #[cfg(feature = "std")]
            Inner::Owned(_) => "loaded",
            Inner::Baked(_) => "baked",
        };
        write!(f, "Params({} floats, {how})", self.as_slice().len())
    }
}

/// The length checks at the top of `forward`.
pub fn check_lengths(input: &[f32], input_len: usize, logits: &[f32], classes: usize) -> Result<(), Error> {
    if input.len() != input_len {
        return Err(Error::InputLength { expected: input_len, found: input.len() });
    }
    check_logits(logits, classes)
}

/// `logits` must hold `classes` floats.
pub fn check_logits(logits: &[f32], classes: usize) -> Result<(), Error> {
    if logits.len() != classes {
        return Err(Error::OutputLength { expected: classes, found: logits.len() });
    }
    Ok(())
}

/// The number of images in a batch: `inputs` must hold a whole number (at least one) of
/// `image_len`-float images, and `logits` `classes` floats for each.
pub fn batch_size(inputs: &[f32], image_len: usize, logits: &[f32], classes: usize) -> Result<usize, Error> {
    let images = inputs.len() / image_len;
    if images == 0 || !inputs.len().is_multiple_of(image_len) {
        return Err(Error::BatchInputLength { image_len, found: inputs.len() });
    }
    // Checked: on a 32-bit target the product of two plausible lengths can wrap.
    match images.checked_mul(classes) {
        Some(expected) if expected == logits.len() => Ok(images),
        expected => Err(Error::OutputLength { expected: expected.unwrap_or(usize::MAX), found: logits.len() }),
    }
}

/// The part of the arena a batch of `images` runs in: one planned region (`planned` floats)
/// per image.
pub fn batch_arena(a: &mut [f32], planned: usize, images: usize) -> Result<&mut [f32], Error> {
    let needed = planned.saturating_mul(images);
    if a.len() < needed {
        let (needed_bytes, found_bytes) = (needed.saturating_mul(4), a.len().saturating_mul(4));
        return Err(Error::ArenaTooSmallForBatch { images, needed_bytes, found_bytes });
    }
    Ok(&mut a[..needed])
}

/// Split the arena (floats, or bytes for int8 models) into the planned region and the
/// per-thread scratch behind it, checking there is scratch for `threads` threads.
pub fn split_thread_scratch<T>(
    a: &mut [T],
    planned: usize,
    per_thread: usize,
    threads: usize,
) -> Result<(&mut [T], &mut [T]), Error> {
    let needed = planned.saturating_add(threads.saturating_sub(1).saturating_mul(per_thread));
    let size = core::mem::size_of::<T>();
    if a.len() < needed {
        return Err(Error::ArenaTooSmall {
            threads,
            needed_bytes: needed.saturating_mul(size),
            found_bytes: core::mem::size_of_val(a),
        });
    }
    Ok(a.split_at_mut(planned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths whose products overflow `usize` (on 32-bit targets, plausible ones) are errors.
    #[test]
    fn batch_checks_do_not_overflow() {
        let (inputs, mut logits) = ([0.0f32; 3], [0.0f32; 3]);
        assert_eq!(batch_size(&inputs, 1, &logits, 1), Ok(3));
        let e = batch_size(&inputs, 1, &logits, usize::MAX / 2).unwrap_err();
        assert_eq!(e, Error::OutputLength { expected: usize::MAX, found: 3 });
        assert!(matches!(batch_arena(&mut logits, usize::MAX / 2, 3), Err(Error::ArenaTooSmallForBatch { .. })));
        assert!(matches!(split_thread_scratch(&mut logits, 1, usize::MAX / 2, 3), Err(Error::ArenaTooSmall { .. })));
        assert!(split_thread_scratch(&mut logits, 1, 1, 3).is_ok());
    }
}
