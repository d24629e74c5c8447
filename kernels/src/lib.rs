//! The engine room of `mobilenet-runtime`: kernels, weight packing, safetensors loading and
//! the arena. Generated code reaches it through `mobilenet_runtime::__private`; the compiler
//! uses the same packing and folding to bake weights at build time.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod arena;
mod block;
pub mod checkpoint;
pub mod dispatch;
mod dw;
mod error;
mod gemm;
mod isa;
pub mod layout;
mod par;
mod params;
mod peak;
mod pixels;
mod pool;
pub mod reference;
mod simd;
mod stem;
mod threads;

pub use arena::{split, Arena, Region};
pub use block::{BlockDims, BlockShape};
pub use checkpoint::load_params;
pub use dispatch::{fused_block_dyn, BlockParams};
pub use error::Error;
pub use gemm::{units, UNIT_COLS, UNIT_ROWS};
pub use isa::{Cpu, Isa};
pub use layout::{ParamKind, ParamLayer};
pub use par::{
    avg_pool, block_batch, linear_batch, par_block, par_block_dyn, par_linear, par_pointwise, par_stem,
    pointwise_splits_units,
};
pub use params::{batch_arena, batch_size, check_lengths, check_logits, split_thread_scratch, Aligned, Params};
pub use peak::fma_peak_gflops;
pub use pixels::normalize_rgb8;
pub use reference::Padding;
pub use threads::{share, Threads};
