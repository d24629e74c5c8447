//! The end-to-end tests, as one test binary so that each model compiles once per target (a
//! model is most of a test crate's build time). Apart from it: `interpreter` (models only it
//! needs against the reference interpreter; a second binary so that the two compile in
//! parallel), `no_alloc` (its counting allocator must own the process) and `ui` (trybuild
//! compiles its own crates).

mod models;

mod api;
mod batch;
mod classify;
mod golden;
mod hygiene;
mod int8;
mod keras;
mod memory_plan;
mod rgb8;
mod threads;
mod trained;
mod variants;
