//! Compiled models against the reference interpreter (`mobilenet_compiler::reference`: direct
//! loops, BatchNorm unfolded) with random weights: hand-written variants and a dozen generated
//! specs. A test binary of its own, beside `e2e`, so the two compile in parallel; three small
//! variant models are compiled in both.

mod models;

mod generated;
mod variants;
