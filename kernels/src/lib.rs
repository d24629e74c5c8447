//! The engine room of `mobilenet-runtime`: kernels, weight packing, safetensors loading and
//! the arena. Generated code reaches it through `mobilenet_runtime::__private`; the compiler
//! uses the same packing and folding to bake weights at build time.

mod arena;
pub mod checkpoint;
pub mod dispatch;
mod error;
pub mod layout;
mod params;
pub mod portable;
pub mod reference;

pub use arena::{split_rrw, split_rw, Arena, Region};
pub use checkpoint::load_params;
pub use error::Error;
pub use layout::{ParamKind, ParamLayer};
pub use params::{check_lengths, Aligned, Params};
