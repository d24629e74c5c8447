use std::fmt;

/// Everything that can go wrong when loading weights or running a model.
///
/// Weight errors name the tensor and say what was expected and what was found, so a
/// mismatched checkpoint can be fixed without reading the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a readable safetensors file (bad header, truncated data, ...).
    NotSafetensors { reason: String },
    /// A tensor the model needs is absent.
    MissingTensor { name: String, expected_shape: Vec<usize> },
    /// The file holds a tensor the model does not use (a checkpoint of another architecture?).
    UnexpectedTensor { name: String, shape: Vec<usize> },
    /// A tensor has the wrong shape.
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
    /// A tensor is stored in a dtype the loader cannot convert to f32.
    UnsupportedDtype { name: String, found: String },
    /// A tensor holds a value that cannot be used: NaN, infinity, a negative BatchNorm variance.
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
}

fn shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotSafetensors { reason } => {
                write!(f, "weights are not a valid safetensors file: {reason}")
            }
            Error::MissingTensor { name, expected_shape } => write!(
                f,
                "tensor `{name}` is missing from the weights (expected shape {})",
                shape(expected_shape)
            ),
            Error::UnexpectedTensor { name, shape: s } => write!(
                f,
                "tensor `{name}` (shape {}) is not part of this model; are these weights for another spec?",
                shape(s)
            ),
            Error::ShapeMismatch { name, expected, found } => write!(
                f,
                "tensor `{name}` has shape {}, expected {}",
                shape(found),
                shape(expected)
            ),
            Error::UnsupportedDtype { name, found } => write!(
                f,
                "tensor `{name}` has dtype {found}, expected F32, F16 or BF16"
            ),
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
            Error::ArenaMismatch { expected_model, found_model } => write!(
                f,
                "arena belongs to model `{found_model}`, not `{expected_model}`; create it with `{expected_model}::arena()`"
            ),
        }
    }
}

impl std::error::Error for Error {}
