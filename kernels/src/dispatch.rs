//! The kernels generated code calls. Each picks the best implementation for the running CPU.

pub use crate::portable::{avg_pool, depthwise, linear, pointwise, stem};
