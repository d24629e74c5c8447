//! Ahead-of-time compiled MobileNetV2.
//!
//! ```ignore
//! mobilenet_runtime::mobilenet!("models/v2.yaml"); // relative to CARGO_MANIFEST_DIR
//!
//! let model = MobileNetV2::new(); // or MobileNetV2::from_safetensors(&bytes)?
//! let mut arena = MobileNetV2::arena(); // ARENA_BYTES, allocated once
//! let mut logits = [0.0f32; MobileNetV2::NUM_CLASSES];
//! model.forward(&mut arena, &image_hwc, &mut logits)?;
//! ```
//!
//! The macro reads the YAML spec (and its weights, if named) at compile time and defines a
//! `Send + Sync` model type with shape-constant kernels and a fixed memory plan. See the
//! repository README for the spec schema and the full API.
#![forbid(unsafe_code)]

pub use mobilenet_kernels::{Arena, Error};
/// Compile a MobileNetV2 spec into a model type. See the crate docs.
pub use mobilenet_macros::mobilenet;

/// Items generated code uses. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use mobilenet_kernels::dispatch::*;
    pub use mobilenet_kernels::{
        check_lengths, load_params, split_rrw, split_rw, Aligned, ParamKind, ParamLayer, Params,
    };
}
