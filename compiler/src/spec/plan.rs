//! The `plan` key: what the compiler optimises when it sizes fused blocks' row bands, speed
//! (the default) or the activation arena (`ARENA_BYTES`). `passes::fuse_blocks` applies it.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// `plan: speed | memory`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Plan {
    /// Bands sized for the GEMMs and the L2 cache, within `fuse_blocks::MEMORY_BUDGET`.
    #[default]
    Speed,
    /// The smallest arena bands can give: narrower bands wherever a block sets the peak.
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
        struct V;
        impl Visitor<'_> for V {
            type Value = PlanDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`speed` or `memory`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PlanDe, E> {
                match v {
                    "speed" => Ok(PlanDe(Plan::Speed)),
                    "memory" => Ok(PlanDe(Plan::Memory)),
                    _ => Err(E::custom(format!(
                        "must be `speed` (the default: row bands sized for fast GEMMs) or `memory` (the smallest arena: bands narrowed where a block sets the peak), found {v:?}"
                    ))),
                }
            }
        }
        d.deserialize_str(V)
    }
}
