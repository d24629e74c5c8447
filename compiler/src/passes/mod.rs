//! The compiler pipeline, chained in one place:
//! spec -> `build_ir` (shapes) -> `fold_bn` (parameter layout) -> `plan_arena` (memory plan).

pub mod build_ir;
pub mod fold_bn;
pub mod plan_arena;

use crate::error::Error;
use crate::ir::Network;
use crate::spec::{SourceFile, Spec};

/// Everything codegen needs.
#[derive(Clone, Debug)]
pub struct Program {
    pub network: Network,
    pub params: fold_bn::ParamPlan,
    pub arena: plan_arena::ArenaPlan,
}

pub fn compile(spec: &Spec, src: &SourceFile) -> Result<Program, Error> {
    let network = build_ir::build(spec, src)?;
    let params = fold_bn::plan(&network);
    let arena = plan_arena::plan(&network);
    plan_arena::verify(&arena).map_err(|e| Error::new(format!("internal error: invalid memory plan: {e}")))?;
    Ok(Program { network, params, arena })
}
