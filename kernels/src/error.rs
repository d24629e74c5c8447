//! `Error`, what loading weights or running a model can return: every variant names what was
//! wrong (the tensor and its expected and found shape or dtype; expected and found lengths and
//! sizes; the models an arena was made for and used with).

use core::fmt;
#[cfg(feature = "std")]
use std::{string::String, vec::Vec};

/// Everything that can go wrong when loading weights or running a model.
///
/// Weight errors name the tensor and say what was expected and what was found, so a
/// mismatched checkpoint can be fixed without reading the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a readable safetensors file (bad header, truncated data, ...).
    #[cfg(feature = "std")]
    NotSafetensors { reason: String },
    /// A tensor the model needs is absent.
    #[cfg(feature = "std")]
    MissingTensor { name: String, expected_shape: Vec<usize> },
    /// The file holds a tensor the model does not use (a checkpoint of another architecture?).
    #[cfg(feature = "std")]
    UnexpectedTensor { name: String, shape: Vec<usize> },
    /// A tensor has the wrong shape.
    #[cfg(feature = "std")]
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
    /// A tensor is stored in a dtype the loader cannot convert to f32.
    #[cfg(feature = "std")]
    UnsupportedDtype { name: String, found: String },
    /// A tensor holds a value that cannot be used: NaN, infinity, a negative BatchNorm variance.
    #[cfg(feature = "std")]
    InvalidValue { name: String, index: usize, reason: &'static str },
    /// `forward` got an input slice of the wrong length.
    InputLength { expected: usize, found: usize },
    /// `forward_rgb8` got a pixel slice of the wrong length.
    PixelsLength { expected: usize, found: usize },
    /// `forward` got an output slice of the wrong length.
    OutputLength { expected: usize, found: usize },
    /// The arena lacks the per-thread scratch `forward_parallel` needs for this many threads.
    ArenaTooSmall { threads: usize, needed_bytes: usize, found_bytes: usize },
    /// `forward_batch` got an input that is not a whole number (at least one) of images.
    BatchInputLength { image_len: usize, found: usize },
    /// The arena is smaller than a batch of `images` needs.
    ArenaTooSmallForBatch { images: usize, needed_bytes: usize, found_bytes: usize },
    /// The arena was made by `arena()` of another model.
    ArenaMismatch { expected_model: &'static str, found_model: &'static str },
    /// The buffer given to `forward_in` is smaller than the model's `ARENA_BYTES`.
    BufferTooSmall { needed_bytes: usize, found_bytes: usize },
    /// The buffer given to `forward_in` does not start on a 4-byte (f32) boundary.
    BufferMisaligned { misalignment: usize },
}

/// A tensor shape as `[a, b, c]`.
#[cfg(feature = "std")]
struct Shape<'a>(&'a [usize]);

#[cfg(feature = "std")]
impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "std")]
            Error::NotSafetensors { reason } => {
                write!(f, "weights are not a valid safetensors file: {reason}")
            }
            #[cfg(feature = "std")]
            Error::MissingTensor { name, expected_shape } => write!(
                f,
                "tensor `{name}` is missing from the weights (expected shape {})",
                Shape(expected_shape)
            ),
            #[cfg(feature = "std")]
            Error::UnexpectedTensor { name, shape: s } => write!(
                f,
                "tensor `{name}` (shape {}) is not part of this model; are these weights for another spec?",
                Shape(s)
            ),
            #[cfg(feature = "std")]
            Error::ShapeMismatch { name, expected, found } => write!(
                f,
                "tensor `{name}` has shape {}, expected {}",
                Shape(found),
                Shape(expected)
            ),
            #[cfg(feature = "std")]
            Error::UnsupportedDtype { name, found } => write!(
                f,
                "tensor `{name}` has dtype {found}, expected F32, F16 or BF16"
            ),
            #[cfg(feature = "std")]
            Error::InvalidValue { name, index, reason } => {
                write!(f, "tensor `{name}` has an invalid value at flat index {index}: {reason}")
            }
            Error::InputLength { expected, found } => write!(
                f,
                "input has {found} floats, expected {expected} (height x width x 3, HWC)"
            ),
            Error::PixelsLength { expected, found } => write!(
                f,
                "pixels slice has {found} bytes, expected {expected} (height x width x 3 bytes, RGB, HWC)"
            ),
            Error::OutputLength { expected, found } => {
                write!(f, "logits slice has {found} floats, expected {expected} (one per class)")
            }
            Error::ArenaTooSmall { threads, needed_bytes, found_bytes } => write!(
                f,
                "arena has {found_bytes} bytes, {threads} threads need {needed_bytes}; create it with `arena_for(&threads)`"
            ),
            Error::BatchInputLength { image_len, found } => write!(
                f,
                "batch input has {found} floats, not a whole number (at least one) of {image_len}-float images (height x width x 3, HWC)"
            ),
            Error::ArenaTooSmallForBatch { images, needed_bytes, found_bytes } => write!(
                f,
                "arena has {found_bytes} bytes, a batch of {images} images needs {needed_bytes}; create it with `arena_batch({images})`"
            ),
            Error::BufferTooSmall { needed_bytes, found_bytes } => write!(
                f,
                "arena buffer has {found_bytes} bytes, the model needs {needed_bytes} (its ARENA_BYTES)"
            ),
            Error::BufferMisaligned { misalignment } => write!(
                f,
                "arena buffer starts {misalignment} bytes past a 4-byte boundary; f32 needs 4 (`ArenaBuffer` gives 64)"
            ),
            Error::ArenaMismatch { expected_model, found_model } => write!(
                f,
                "arena belongs to model `{found_model}`, not `{expected_model}`; create it with `{expected_model}::arena()`"
            ),
        }
    }
}

impl core::error::Error for Error {}
