//! The compiler pipeline, chained in one place: spec -> `build_ir` (shapes) -> `fold_bn`
//! (parameter layout) -> `fuse_blocks` (schedule of fused blocks in row bands) -> `plan_arena`
//! (memory plan of that schedule).

pub mod build_ir;
pub mod fold_bn;
pub mod fuse_blocks;
pub mod plan_arena;

use crate::error::Error;
use crate::ir::Network;
use crate::spec::{SourceFile, Spec};

/// Everything codegen needs.
#[derive(Clone, Debug)]
pub struct Program {
    pub network: Network,
    pub params: fold_bn::ParamPlan,
    pub schedule: fuse_blocks::Schedule,
    /// The memory plan of `schedule`: what `ARENA_BYTES` is.
    pub arena: plan_arena::ArenaPlan,
    /// The liveness lower bound of the unfused op-by-op schedule, for comparison.
    pub op_by_op_bound: usize,
}

pub fn compile(spec: &Spec, src: &SourceFile) -> Result<Program, Error> {
    let network = build_ir::build(spec, src)?;
    let params = fold_bn::plan(&network);
    let schedule = fuse_blocks::fuse(&network);
    let arena = plan_arena::plan_buffers(&schedule.lens, &schedule.live, schedule.steps.len());
    plan_arena::verify(&arena).map_err(|e| Error::new(format!("internal error: invalid memory plan: {e}")))?;
    let op_by_op_bound = plan_arena::op_by_op_bound(&network);
    Ok(Program { network, params, schedule, arena, op_by_op_bound })
}
