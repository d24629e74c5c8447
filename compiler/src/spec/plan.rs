//! The `plan` key: what the compiler optimises when it schedules fused blocks (their row bands,
//! and under `memory` which pairs run chained), speed (the default) or the activation arena
//! (`ARENA_BYTES`). `passes::fuse_blocks` applies it.

use super::values::keyword;
use serde::de::Deserializer;
use serde::Deserialize;

/// `plan: speed | memory`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Plan {
    /// Bands sized for the GEMMs and the L2 cache, within `fuse_blocks::MEMORY_BUDGET`.
    #[default]
    Speed,
    /// The smallest arena this compiler can plan: blocks chained and bands narrowed wherever
    /// they set the peak.
    Memory,
}

impl Plan {
    /// The name a spec writes.
    pub fn name(self) -> &'static str {
        match self {
            Plan::Speed => "speed",
            Plan::Memory => "memory",
        }
    }
}

/// `plan` as written.
pub(super) struct PlanDe(pub Plan);

impl<'de> Deserialize<'de> for PlanDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let choices = &[("speed", Plan::Speed), ("memory", Plan::Memory)];
        keyword(d, choices, "must be `speed` (the default: row bands sized for fast GEMMs) or `memory` (the smallest arena: blocks chained and bands narrowed where they set the peak)")
            .map(PlanDe)
    }
}
