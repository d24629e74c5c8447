//! Ahead-of-time compiled MobileNetV2.
//!
//! ```
//! // The spec path is relative to the crate's CARGO_MANIFEST_DIR.
//! mobilenet_runtime::mobilenet!("../models/v2_0.35_96_c10.yaml");
//!
//! let model = MobileNetV2Tiny::new(); // baked weights; or MobileNetV2Tiny::from_safetensors(&bytes)?
//! let mut arena = MobileNetV2Tiny::arena(); // ARENA_BYTES, allocated once
//! let image_hwc = vec![0.0f32; MobileNetV2Tiny::INPUT_HEIGHT * MobileNetV2Tiny::INPUT_WIDTH * 3];
//! let mut logits = [0.0f32; MobileNetV2Tiny::NUM_CLASSES];
//! model.forward(&mut arena, &image_hwc, &mut logits)?; // allocates nothing
//! # Ok::<(), mobilenet_runtime::Error>(())
//! ```
//!
//! The macro reads the YAML spec (and its weights, if named) at compile time and defines a
//! `Send + Sync` model type with shape-constant kernels and a fixed memory plan. See the
//! repository README for the spec schema and the full API.
#![forbid(unsafe_code)]

pub use mobilenet_kernels::{Arena, Error, Isa, Padding, Threads};
/// Compile a MobileNetV2 spec into a model type. See the crate docs.
pub use mobilenet_macros::mobilenet;

/// Items generated code uses. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use mobilenet_kernels::dispatch::stem_output;
    pub use mobilenet_kernels::{
        avg_pool, batch_arena, batch_size, block_batch, check_lengths, check_logits, linear_batch, load_params,
        normalize_rgb8, par_block, par_linear, par_pointwise, par_stem, split, split_thread_scratch, Aligned,
        BlockDims, BlockParams, BlockShape, Cpu, Padding, ParamKind, ParamLayer, Params,
    };
}
