//! The order `forward_batch` runs a batch in. Early steps have large feature maps and few
//! weights: each image runs them in turn, so its activations stay in cache from one step to the
//! next. From the first step after which every step holds more weight bytes than activation
//! bytes (in MobileNetV2 1.0-224: from features.15 on, the last 1x1 and the classifier), the batch runs
//! step by step: each step for every image before the next step, so its packed weights are read
//! from memory once per batch and then from cache, and the classifier is one matrix product over
//! all images' pooled features.

use crate::ir::Network;
use crate::passes::fuse_blocks::{Schedule, Step};
use crate::passes::layout_params::ParamPlan;

/// Bytes of weights and of activations (inputs, outputs, scratch) a step touches.
pub fn step_bytes(net: &Network, params: &ParamPlan, step: &Step) -> (usize, usize) {
    let weights = |l: usize| params.for_layer(l).map_or(0, |e| 4 * e.kind.packed_len());
    match step {
        Step::Layer(l) => {
            let layer = &net.layers[*l];
            (weights(*l), 4 * (layer.input_shape.len() + layer.output_shape.len()))
        }
        Step::Block(b) => {
            let layers = [b.stem, b.expand, Some(b.depthwise), Some(b.project)];
            let w = layers.into_iter().flatten().map(weights).sum();
            (w, 4 * (b.dims.x_len() + b.dims.y_len() + b.dims.scratch_len()))
        }
        Step::Chain(c) => {
            let layers =
                [&c.first, &c.second].into_iter().flat_map(|b| [b.stem, b.expand, Some(b.depthwise), Some(b.project)]);
            let w = layers.flatten().map(weights).sum();
            (w, 4 * (c.first.dims.x_len() + c.second.dims.y_len() + c.scratch_len()))
        }
    }
}

/// The first step `forward_batch` runs step by step (all steps before it run image by image).
pub fn plan(net: &Network, params: &ParamPlan, schedule: &Schedule) -> usize {
    let mut first = schedule.steps.len();
    for (k, step) in schedule.steps.iter().enumerate().rev() {
        let (w, a) = step_bytes(net, params, step);
        // Steps without weights (pooling) follow their neighbours.
        if w > 0 && w < a {
            break;
        }
        first = k;
    }
    first
}
