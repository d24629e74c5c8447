//! Block fusion: each inverted-residual block (expand 1x1 -> depthwise 3x3 -> project 1x1)
//! becomes one step that runs in bands of output rows, so its expanded tensor never exists in
//! full. The band height comes from the shapes: enough output pixels per band to keep the 1x1
//! GEMMs efficient, few enough that the band's working set stays in L2.
//!
//! The result is the schedule codegen follows and the buffers the arena plan places.

use crate::ir::{Layer, Network, Op, TensorId, Value};
use mobilenet_kernels::BlockDims;

/// Bytes a band's working set (ring, band buffer, weights) may take: half of a 2 MiB L2.
pub const L2_BUDGET: usize = 1 << 20;
/// Output pixels per band that keep the project GEMM's register tiles busy.
pub const TARGET_PIXELS: usize = 512;

/// One fused block.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedBlock {
    /// Layer indices: `[expand,] depthwise, project`.
    pub layers: Vec<usize>,
    pub dims: BlockDims,
    pub input: TensorId,
    pub output: TensorId,
}

impl FusedBlock {
    pub fn expand(&self) -> Option<usize> {
        (self.layers.len() == 3).then(|| self.layers[0])
    }

    pub fn depthwise(&self) -> usize {
        self.layers[self.layers.len() - 2]
    }

    pub fn project(&self) -> usize {
        self.layers[self.layers.len() - 1]
    }
}

/// A step of the fused schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// An unfused layer (stem, last 1x1, pool, classifier).
    Layer(usize),
    Block(FusedBlock),
}

/// What an arena buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// A materialised activation.
    Tensor(TensorId),
    /// Ring and band buffer of the block at this step.
    Scratch(usize),
}

/// The fused schedule and its buffers with their lifetimes (in steps, inclusive).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub steps: Vec<Step>,
    pub buffers: Vec<Buffer>,
    pub lens: Vec<usize>,
    pub live: Vec<(usize, usize)>,
}

impl Schedule {
    pub fn buffer_of(&self, t: TensorId) -> Option<usize> {
        self.buffers.iter().position(|b| *b == Buffer::Tensor(t))
    }

    pub fn scratch_of(&self, step: usize) -> Option<usize> {
        self.buffers.iter().position(|b| *b == Buffer::Scratch(step))
    }

    pub fn blocks(&self) -> impl Iterator<Item = &FusedBlock> {
        self.steps.iter().filter_map(|s| match s {
            Step::Block(b) => Some(b),
            Step::Layer(_) => None,
        })
    }
}

pub fn fuse(net: &Network) -> Schedule {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < net.layers.len() {
        match block_at(net, i) {
            Some(block) => {
                i = block.project() + 1;
                steps.push(Step::Block(block));
            }
            None => {
                steps.push(Step::Layer(i));
                i += 1;
            }
        }
    }

    let mut sched = Schedule { steps, buffers: Vec::new(), lens: Vec::new(), live: Vec::new() };
    let use_buffer =
        |sched: &mut Schedule, b: Buffer, len: usize, step: usize| match sched.buffers.iter().position(|x| *x == b) {
            Some(k) => sched.live[k].1 = sched.live[k].1.max(step),
            None => {
                sched.buffers.push(b);
                sched.lens.push(len);
                sched.live.push((step, step));
            }
        };
    for k in 0..sched.steps.len() {
        let (reads, writes, scratch) = match &sched.steps[k] {
            Step::Layer(l) => {
                let layer = &net.layers[*l];
                (vec![layer.input, layer.residual.map_or(Value::Image, Value::Tensor)], layer.output, None)
            }
            Step::Block(b) => (vec![Value::Tensor(b.input)], Value::Tensor(b.output), Some(b.dims.scratch_len())),
        };
        for v in reads.into_iter().chain([writes]) {
            if let Value::Tensor(t) = v {
                use_buffer(&mut sched, Buffer::Tensor(t), net.tensors[t].len(), k);
            }
        }
        if let Some(len) = scratch {
            use_buffer(&mut sched, Buffer::Scratch(k), len, k);
        }
    }
    sched
}

/// The block whose first layer is `i`, if one starts there.
fn block_at(net: &Network, i: usize) -> Option<FusedBlock> {
    let is = |j: usize, op: Op| net.layers.get(j).is_some_and(|l| l.op == op);
    let feeds = |a: &Layer, b: &Layer| a.output == b.input;
    let (expand, dw) = match net.layers[i].op {
        Op::Pointwise { relu: true } if matches!(net.layers.get(i + 1).map(|l| l.op), Some(Op::Depthwise { .. })) => {
            (Some(i), i + 1)
        }
        Op::Depthwise { .. } => (None, i),
        _ => return None,
    };
    if !is(dw + 1, Op::Pointwise { relu: false }) {
        return None;
    }
    let (d, p) = (&net.layers[dw], &net.layers[dw + 1]);
    if !feeds(d, p) || expand.is_some_and(|e| !feeds(&net.layers[e], d)) {
        return None;
    }
    let first = &net.layers[expand.unwrap_or(dw)];
    let (Value::Tensor(input), Value::Tensor(output)) = (first.input, p.output) else { return None };
    let Op::Depthwise { stride } = d.op else { return None };
    let x = first.input_shape;
    let mut dims = BlockDims {
        h: x.h,
        w: x.w,
        cin: x.c,
        hidden: d.output_shape.c,
        cout: p.output_shape.c,
        stride,
        expand: expand.is_some(),
        residual: p.residual == Some(input),
        band: 1,
    };
    if p.residual.is_some() && !dims.residual {
        return None;
    }
    dims.band = choose_band(dims);
    let layers = expand.into_iter().chain([dw, dw + 1]).collect();
    Some(FusedBlock { layers, dims, input, output })
}

/// The band height for a block: `TARGET_PIXELS` output pixels, less while the ring and band
/// buffers exceed `L2_BUDGET`. (Weights are re-read once per band, so narrower bands only
/// pay off where the buffers would not fit.)
pub fn choose_band(d: BlockDims) -> usize {
    let mut band = TARGET_PIXELS.div_ceil(d.wo()).clamp(1, d.ho());
    while band > 1 && 4 * (BlockDims { band, ..d }).scratch_len() > L2_BUDGET {
        band -= 1;
    }
    band
}
