//! The compiler pipeline, chained in one place: spec -> `build_ir` (shapes) -> `layout_params`
//! (parameter layout) -> `fuse_blocks` (schedule of fused blocks in row bands, sized for speed or
//! for memory as the spec's `plan` says) -> `plan_arena` (memory plan of that schedule) ->
//! `plan_batch` (where `forward_batch` switches from image-by-image to step-by-step).

pub mod build_ir;
pub mod fuse_blocks;
pub mod layout_params;
pub mod plan_arena;
pub mod plan_batch;

use crate::error::Error;
use crate::ir::{Network, Op};
use crate::spec::{SourceFile, Spec};
use fuse_blocks::Step;

/// Everything codegen needs.
#[derive(Clone, Debug)]
pub struct Program {
    pub network: Network,
    pub params: layout_params::ParamPlan,
    pub schedule: fuse_blocks::Schedule,
    /// The memory plan of `schedule`: what `ARENA_BYTES` is.
    pub arena: plan_arena::ArenaPlan,
    /// The liveness lower bound of the unfused op-by-op schedule, for comparison.
    pub op_by_op_bound: usize,
    /// The first step `forward_batch` runs step by step rather than image by image.
    pub batch_step_major_from: usize,
}

pub fn compile(spec: &Spec, src: &SourceFile) -> Result<Program, Error> {
    let network = build_ir::build(spec, src)?;
    let params = layout_params::plan(&network);
    let schedule = fuse_blocks::fuse(&network);
    // Codegen has no unfused depthwise kernel: every depthwise layer runs inside a block.
    let unfused = |s: &Step| matches!(s, Step::Layer(l) if matches!(network.layers[*l].op, Op::Depthwise { .. }));
    if schedule.steps.iter().any(unfused) {
        return Err(Error::new("internal error: a depthwise layer outside a fused block"));
    }
    let arena = plan_arena::plan_buffers(&schedule.lens, &schedule.live, schedule.steps.len());
    plan_arena::verify(&arena).map_err(|e| Error::new(format!("internal error: invalid memory plan: {e}")))?;
    let op_by_op_bound = plan_arena::op_by_op_bound(&network);
    let batch_step_major_from = plan_batch::plan(&network, &params, &schedule);
    Ok(Program { network, params, schedule, arena, op_by_op_bound, batch_step_major_from })
}
