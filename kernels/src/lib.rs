//! The engine room of `mobilenet-runtime`: kernels, weight packing, safetensors loading and
//! the arena. Generated code reaches it through `mobilenet_runtime::__private`; the compiler
//! uses the same packing and folding to bake weights at build time.
//!
//! With the default `std` feature: thread pools, heap arenas, run-time CPU detection and
//! safetensors loading. Without it the crate is `#![no_std]` and needs no allocator: the same
//! kernels (the ISA fixed at compile time by the target's features), region splitting, and a
//! check of caller-provided arena buffers (`buffer_floats`).

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[cfg(feature = "std")]
mod arena;
mod block;
mod buffer;
pub mod chain;
#[cfg(feature = "std")]
pub mod checkpoint;
pub mod dispatch;
mod dw;
mod error;
mod gemm;
pub mod int8;
mod isa;
pub mod layout;
mod par;
mod params;
#[cfg(feature = "std")]
mod peak;
mod pixels;
mod pool;
pub mod reference;
mod simd;
mod stem;
mod threads;

#[cfg(feature = "std")]
pub use arena::Arena;
pub use block::{BlockDims, BlockShape};
pub use buffer::{buffer_floats, split, ArenaBuffer, Region, ARENA_ALIGN};
pub use chain::{par_chain, par_chain_dyn};
#[cfg(feature = "std")]
pub use checkpoint::load_params;
pub use dispatch::{fused_block_dyn, BlockParams};
pub use error::Error;
pub use gemm::{unit_area, units, UNIT_COLS, UNIT_ROWS};
pub use isa::{Cpu, Isa};
pub use layout::{ParamKind, ParamLayer};
pub use par::{
    avg_pool, block_batch, linear_batch, par_block, par_block_dyn, par_linear, par_pointwise, par_stem,
    pointwise_splits_units,
};
pub use params::{batch_arena, batch_size, check_lengths, check_logits, split_thread_scratch, Aligned, Params};
#[cfg(feature = "std")]
pub use peak::fma_peak_gflops;
pub use pixels::normalize_rgb8;
pub use reference::Padding;
pub use threads::{share, Threads};
