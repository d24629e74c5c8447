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
//!
//! Without the default `std` feature the crate is `#![no_std]` and needs no allocator: models
//! have baked weights (`new()`) and run with `forward_in` in a caller's buffer of `ARENA_BYTES`
//! (an [`ArenaBuffer`], which can be a `static`), on one thread, with the kernels the compile
//! target's features allow. `arena()`, `forward`, `forward_parallel`, batches, `forward_inspect`
//! and `from_safetensors` need `std`.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
pub use mobilenet_kernels::{Arena, Threads};
pub use mobilenet_kernels::{ArenaBuffer, Error, Isa, Padding, ARENA_ALIGN};
/// Compile a MobileNetV2 spec into a model type. See the crate docs.
pub use mobilenet_macros::mobilenet;

/// Items generated code uses. Not a stable API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "std")]
    pub use mobilenet_kernels::dispatch::{block_output, stem_output};
    pub use mobilenet_kernels::int8::{
        avg_pool8, bytes_mut, f32s, i32s, i8s, par_block8, par_linear8, par_pointwise8, par_stem8, quantize_rgb8,
        BlockInput, Image, QBlockParams, QConv, QLinear, QShortcut,
    };
    #[cfg(feature = "std")]
    pub use mobilenet_kernels::int8::{dequantize, stem8_output};
    #[cfg(feature = "std")]
    pub use mobilenet_kernels::load_params;
    pub use mobilenet_kernels::{
        avg_pool, batch_arena, batch_size, block_batch, buffer_floats, check_lengths, check_logits, linear_batch,
        normalize_rgb8, par_block, par_chain, par_linear, par_pointwise, par_stem, split, split_thread_scratch,
        Aligned, BlockDims, BlockParams, BlockShape, Cpu, Padding, ParamKind, ParamLayer, Params, Threads,
    };
}
