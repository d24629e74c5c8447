//! Block fusion: each inverted-residual block (expand 1x1 -> depthwise 3x3 -> project 1x1)
//! becomes one step that runs in bands of output rows, so its expanded tensor never exists in
//! full. A first block without expansion also absorbs the stem: its rows come straight from the
//! image, and the stem's output never exists in full either.
//!
//! The band height (output rows per band) sets the size of a block's ring and band buffers
//! (its scratch, live during its step only). The spec's `plan` chooses it:
//!
//! - `speed` (the default), `choose_band`: from the shapes alone, enough output pixels per band
//!   to keep the 1x1 GEMMs efficient, few enough that the band's buffers stay in L2 and the
//!   block's working set within `MEMORY_BUDGET`.
//! - `memory`, `memory_bands`: every block first gets bands of one row. Then `stream_blocks`
//!   chains pairs of consecutive blocks (`Chain`: the second block's output rows in chunks, the
//!   first block's rows each chunk reads computed just before into a window, so the tensor
//!   between them never exists in full) while that lowers the liveness bound (the most floats
//!   live during one step, counting every buffer: activations, scratch, the staged 8-bit
//!   image), each time the pair beside a step at the bound that lowers it most. Last, each
//!   block's band rises, a row at a time, up to the band `speed` picks, and each chain's chunk
//!   up to the second block's height, while the floats live during the step stay within that
//!   bound. Bands are narrowed and chunks shortened only where a step is the memory bottleneck
//!   (or would become it). Taller chunks recompute fewer halo rows of the first block.
//!
//! The result is the schedule codegen follows and the buffers the arena plan places.

use crate::ir::{Layer, Network, Op, TensorId, Value};
use crate::passes::plan_arena;
use crate::spec::{InputFormat, Plan};
use mobilenet_kernels::chain::chain_scratch_len;
use mobilenet_kernels::BlockDims;

/// Bytes a band's working set (ring, band buffer, weights) may take: half of a 2 MiB L2.
pub const L2_BUDGET: usize = 1 << 20;
/// Output pixels per band that keep the project GEMM's register tiles busy.
pub const TARGET_PIXELS: usize = 512;
/// Bytes a block's input, output and buffers may take together: bands narrow (to one row at
/// worst) until they fit. Narrow bands cost little where the budget bites (large feature maps,
/// few weights), and this keeps MobileNetV2 1.0-224 under 1.2 MiB.
pub const MEMORY_BUDGET: usize = 1_258_291;

/// One fused block.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedBlock {
    /// Layer indices of the parts.
    pub stem: Option<usize>,
    pub expand: Option<usize>,
    pub depthwise: usize,
    pub project: usize,
    pub dims: BlockDims,
    /// The image (with a stem) or a tensor.
    pub input: Value,
    pub output: TensorId,
}

impl FusedBlock {
    /// The first layer the block runs.
    pub fn first(&self) -> usize {
        self.stem.or(self.expand).unwrap_or(self.depthwise)
    }
}

/// Two consecutive blocks run as one step (`plan: memory`): the second block's output rows in
/// chunks of `chunk`, the first block's output rows each chunk reads streamed through a window
/// (`mobilenet_kernels::chain`), so the tensor between them never exists in full.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub first: FusedBlock,
    pub second: FusedBlock,
    pub chunk: usize,
}

impl Chain {
    /// Floats of scratch: the window, then one block scratch the two blocks take turns with.
    pub fn scratch_len(&self) -> usize {
        chain_scratch_len(&self.first.dims, &self.second.dims, self.chunk)
    }
}

/// A step of the fused schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// An unfused layer (stem, last 1x1, pool, classifier).
    Layer(usize),
    Block(FusedBlock),
    Chain(Chain),
}

impl Step {
    /// Floats of scratch the step needs (one thread's), if it is a block or a chain.
    pub fn scratch_len(&self) -> Option<usize> {
        match self {
            Step::Layer(_) => None,
            Step::Block(b) => Some(b.dims.scratch_len()),
            Step::Chain(c) => Some(c.scratch_len()),
        }
    }
}

/// What an arena buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// A materialised activation.
    Tensor(TensorId),
    /// Ring and band buffer of the block at this step.
    Scratch(usize),
    /// The normalised image `forward_rgb8` makes from 8-bit pixels (`input: {format: rgb8}`),
    /// read by the first step only.
    Image,
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

    /// The staged image's buffer, if the model takes 8-bit pixels.
    pub fn image_buffer(&self) -> Option<usize> {
        self.buffers.iter().position(|b| *b == Buffer::Image)
    }

    /// Every fused block, those in chains included.
    pub fn blocks(&self) -> impl Iterator<Item = &FusedBlock> {
        self.steps
            .iter()
            .flat_map(|s| match s {
                Step::Block(b) => [Some(b), None],
                Step::Chain(c) => [Some(&c.first), Some(&c.second)],
                Step::Layer(_) => [None, None],
            })
            .flatten()
    }

    /// Floats of scratch each extra thread of `forward_parallel` needs: the most any step takes.
    pub fn thread_scratch_len(&self) -> usize {
        self.steps.iter().filter_map(Step::scratch_len).max().unwrap_or(0)
    }
}

pub fn fuse(net: &Network) -> Schedule {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < net.layers.len() {
        match block_at(net, i) {
            Some(block) => {
                i = block.project + 1;
                steps.push(Step::Block(block));
            }
            None => {
                steps.push(Step::Layer(i));
                i += 1;
            }
        }
    }

    fuse_stem(net, &mut steps);
    match net.spec.plan {
        Plan::Speed => {
            for step in &mut steps {
                if let Step::Block(b) = step {
                    b.dims.band = choose_band(b.dims);
                }
            }
        }
        Plan::Memory => memory_bands(net, &mut steps),
    }
    let (buffers, lens, live) = buffers(net, &steps);
    Schedule { steps, buffers, lens, live }
}

/// The buffers of `steps`, numbered in order of first use, with their lengths (floats) and
/// lifetimes (steps, inclusive).
fn buffers(net: &Network, steps: &[Step]) -> (Vec<Buffer>, Vec<usize>, Vec<(usize, usize)>) {
    let (mut buffers, mut lens) = (Vec::new(), Vec::new());
    let mut touched = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let (tensors, scratch): (Vec<TensorId>, _) = match step {
            Step::Layer(l) => (net.layers[*l].tensors().collect(), None),
            Step::Block(b) => (b.input.tensor().into_iter().chain([b.output]).collect(), step.scratch_len()),
            Step::Chain(c) => {
                (c.first.input.tensor().into_iter().chain([c.second.output]).collect(), step.scratch_len())
            }
        };
        let staged = (k == 0 && net.spec.input.format == InputFormat::Rgb8).then_some((Buffer::Image, net.input.len()));
        let uses = tensors.into_iter().map(|t| (Buffer::Tensor(t), net.tensors[t].len()));
        let uses = staged.into_iter().chain(uses).chain(scratch.map(|len| (Buffer::Scratch(k), len)));
        let mut ids = Vec::new();
        for (buffer, len) in uses {
            let id = match buffers.iter().position(|x| *x == buffer) {
                Some(id) => id,
                None => {
                    buffers.push(buffer);
                    lens.push(len);
                    buffers.len() - 1
                }
            };
            ids.push(id);
        }
        touched.push(ids);
    }
    let live = plan_arena::live_ranges(buffers.len(), touched);
    (buffers, lens, live)
}

/// `plan: memory`: bands of one row everywhere; then `stream_blocks` chains pairs of blocks
/// while that lowers the liveness bound; then, under that bound, each block's band rises, a row
/// at a time, up to the band `choose_band` picks, and each chain's chunk up to its whole map,
/// while the floats live during the step stay within the bound. A step's scratch lives during
/// that step only, so each choice leaves every other step as it was.
fn memory_bands(net: &Network, steps: &mut Vec<Step>) {
    for step in steps.iter_mut() {
        if let Step::Block(b) = step {
            b.dims.band = 1;
        }
    }
    stream_blocks(net, steps);
    let (_, lens, live) = buffers(net, steps);
    let bound = plan_arena::lower_bound(&lens, &live, steps.len());
    for (k, step) in steps.iter_mut().enumerate() {
        // Everything live during this step but the step's own scratch.
        let Some(scratch) = step.scratch_len() else { continue };
        let others = plan_arena::live_at(&lens, &live, k) - scratch;
        let fits = |scratch: usize| others + scratch <= bound;
        match step {
            Step::Block(b) => {
                let speed = choose_band(b.dims);
                while b.dims.band < speed && fits(BlockDims { band: b.dims.band + 1, ..b.dims }.scratch_len()) {
                    b.dims.band += 1;
                }
            }
            Step::Chain(c) => {
                while c.chunk < c.second.dims.ho()
                    && fits(chain_scratch_len(&c.first.dims, &c.second.dims, c.chunk + 1))
                {
                    c.chunk += 1;
                }
            }
            Step::Layer(_) => {}
        }
    }
}

/// While fusing a pair of consecutive blocks into a `Chain` (chunks of one row) lowers the
/// liveness bound, fuse the pair next to a step at the bound that lowers it most.
fn stream_blocks(net: &Network, steps: &mut Vec<Step>) {
    let bound_of = |steps: &[Step]| {
        let (_, lens, live) = buffers(net, steps);
        plan_arena::lower_bound(&lens, &live, steps.len())
    };
    loop {
        let (_, lens, live) = buffers(net, steps);
        let bound = plan_arena::lower_bound(&lens, &live, steps.len());
        let at_peak = |k: usize| plan_arena::live_at(&lens, &live, k) == bound;
        let best = (0..steps.len().saturating_sub(1))
            .filter(|&j| at_peak(j) || at_peak(j + 1))
            .filter_map(|j| chained(steps, j))
            .map(|candidate| (bound_of(&candidate), candidate))
            .filter(|(b, _)| *b < bound)
            .min_by_key(|(b, _)| *b);
        match best {
            Some((_, candidate)) => *steps = candidate,
            None => break,
        }
    }
}

/// `steps` with the blocks at `j` and `j + 1` fused into a chain, if the second reads exactly
/// the first's output (and nothing else reads it: in MobileNetV2 nothing does).
fn chained(steps: &[Step], j: usize) -> Option<Vec<Step>> {
    let (Step::Block(first), Step::Block(second)) = (&steps[j], &steps[j + 1]) else { return None };
    if second.input != Value::Tensor(first.output) || second.stem.is_some() {
        return None;
    }
    let chain = Chain { first: first.clone(), second: second.clone(), chunk: 1 };
    let mut out = steps.to_vec();
    out.splice(j..j + 2, [Step::Chain(chain)]);
    Some(out)
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
    let dims = BlockDims {
        h: x.h,
        w: x.w,
        cin: x.c,
        hidden: d.output_shape.c,
        cout: p.output_shape.c,
        stride,
        expand: expand.is_some(),
        residual: p.residual == Some(input),
        band: 1,
        stem: None,
        padding: net.spec.padding,
    };
    if p.residual.is_some() && !dims.residual {
        return None;
    }
    Some(FusedBlock { stem: None, expand, depthwise: dw, project: dw + 1, dims, input: Value::Tensor(input), output })
}

/// Let a first block without expansion (or shortcut) compute the stem's rows itself.
fn fuse_stem(net: &Network, steps: &mut Vec<Step>) {
    let [Step::Layer(stem), Step::Block(block), ..] = &steps[..] else { return };
    let (stem, layer) = (*stem, &net.layers[*stem]);
    let fits = layer.op == Op::Stem
        && block.expand.is_none()
        && !block.dims.residual
        && block.input == layer.output
        && layer.input == Value::Image;
    if !fits {
        return;
    }
    let mut block = block.clone();
    block.stem = Some(stem);
    block.input = Value::Image;
    block.dims.stem = Some((layer.input_shape.h, layer.input_shape.w));
    steps.splice(0..2, [Step::Block(block)]);
}

/// The band height for a block: `TARGET_PIXELS` output pixels, less while the ring and band
/// buffers exceed `L2_BUDGET` or the block's working set (input, output, buffers) exceeds
/// `MEMORY_BUDGET`. (Weights are re-read once per band, so narrower bands only pay off where
/// the buffers would not fit.)
pub fn choose_band(d: BlockDims) -> usize {
    let input = if d.stem.is_some() { 0 } else { d.x_len() };
    let fixed = 4 * (input + d.y_len());
    let mut band = TARGET_PIXELS.div_ceil(d.wo()).clamp(1, d.ho());
    while band > 1 {
        let scratch = 4 * (BlockDims { band, ..d }).scratch_len();
        if scratch <= L2_BUDGET && fixed + scratch <= MEMORY_BUDGET {
            break;
        }
        band -= 1;
    }
    band
}
