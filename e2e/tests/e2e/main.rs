//! The end-to-end tests, as one test binary so that each model compiles once per target (a
//! model is most of a test crate's build time). Apart from it: `interpreter` (models against
//! the reference interpreter; a second binary so that two compile in parallel), `no_alloc` (its
//! counting allocator must own the process) and `ui` (trybuild compiles its own crates).

mod models;

mod api;
mod batch;
mod golden;
mod keras;
mod memory_plan;
mod rgb8;
mod threads;
mod trained;
