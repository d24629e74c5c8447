//! Compiled models against the reference interpreter (`mobilenet_compiler::reference`: direct
//! loops, BatchNorm unfolded) with random weights: four hand-written variants and a dozen
//! generated specs. A test binary of its own beside `e2e` (which checks the other three
//! variants, on models it compiles anyway), so that the two compile in parallel.

mod generated;
mod variants;
