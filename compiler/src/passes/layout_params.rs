//! The parameter layout: one buffer holding every layer's folded, packed weights and bias at
//! fixed offsets (each convolution absorbs the BatchNorm after it, becoming a convolution with a
//! bias). The folding itself is `mobilenet_kernels::checkpoint`, the very loader that
//! `from_safetensors` runs at run time; with weights named in the spec the compiler runs it at
//! build time and bakes its output into this layout.

use crate::ir::Network;
use mobilenet_kernels::{ParamKind, ParamLayer};

/// Packed parameter blocks start on 64-byte boundaries.
const ALIGN: usize = 16;

/// One layer's folded parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamEntry {
    /// Index of the layer in `Network::layers`.
    pub layer: usize,
    pub conv: String,
    pub bn: Option<String>,
    pub kind: ParamKind,
    /// Offset of the packed weights in floats; the bias follows them.
    pub offset: usize,
}

impl ParamEntry {
    /// `(offset, len)` of the packed weights.
    pub fn weights(&self) -> (usize, usize) {
        (self.offset, self.kind.weight_len())
    }

    /// `(offset, len)` of the folded bias.
    pub fn bias(&self) -> (usize, usize) {
        (self.offset + self.kind.weight_len(), self.kind.bias_len())
    }
}

/// Where every layer's folded parameters live.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamPlan {
    pub entries: Vec<ParamEntry>,
    /// Floats in the parameter buffer.
    pub total: usize,
    /// BatchNorm epsilon the weights are folded with.
    pub bn_eps: f64,
}

impl ParamPlan {
    pub fn for_layer(&self, layer: usize) -> Option<&ParamEntry> {
        self.entries.iter().find(|e| e.layer == layer)
    }

    /// The loader's view of the plan.
    pub fn loader_layers(&self) -> Vec<ParamLayer<'_>> {
        self.entries
            .iter()
            .map(|e| ParamLayer { conv: &e.conv, bn: e.bn.as_deref(), kind: e.kind, offset: e.offset })
            .collect()
    }

    /// Fold and pack a torchvision checkpoint (compile-time baking).
    pub fn fold(&self, safetensors: &[u8]) -> Result<Vec<f32>, mobilenet_kernels::Error> {
        mobilenet_kernels::load_params(safetensors, &self.loader_layers(), self.total, self.bn_eps)
    }
}

pub fn plan(net: &Network) -> ParamPlan {
    let mut entries = Vec::new();
    let mut offset = 0;
    for (i, layer) in net.layers.iter().enumerate() {
        let (Some(kind), Some(conv)) = (layer.param_kind(), &layer.conv) else { continue };
        entries.push(ParamEntry { layer: i, conv: conv.clone(), bn: layer.bn.clone(), kind, offset });
        offset = (offset + kind.packed_len()).next_multiple_of(ALIGN);
    }
    ParamPlan { entries, total: offset, bn_eps: net.spec.bn_eps }
}
