//! Shared by the plan tests: an independent checker of arena plans.
#![allow(dead_code)]

use mobilenet_compiler::ir::Value;
use mobilenet_compiler::passes::fuse_blocks::{Buffer, Step};
use mobilenet_compiler::passes::plan_arena::{self, ArenaPlan};
use mobilenet_compiler::spec::InputFormat;
use mobilenet_compiler::Program;

/// Independent check: inside the arena, no two buffers live at once overlap, within 5% of the
/// liveness bound (recomputed here) of the schedule planned.
pub fn check_plan(text: &str, plan: &ArenaPlan, lens: &[usize], first: &[usize], last: &[usize]) -> f64 {
    let steps = last.iter().copied().max().unwrap_or(0) + 1;
    let mut bound = 0;
    for i in 0..steps {
        let live: usize = (0..lens.len()).filter(|&t| first[t] <= i && i <= last[t]).map(|t| lens[t]).sum();
        bound = bound.max(live);
    }
    assert_eq!(plan.lower_bound, bound, "{text}");
    assert_eq!(plan.placements.len(), lens.len());
    for (t, p) in plan.placements.iter().enumerate() {
        assert_eq!(p.len, lens[t]);
        assert!(p.offset + p.len <= plan.size, "{text}: buffer {t} outside the arena");
    }
    for a in 0..lens.len() {
        for b in a + 1..lens.len() {
            let together = first[a] <= last[b] && first[b] <= last[a];
            let (pa, pb) = (&plan.placements[a], &plan.placements[b]);
            let disjoint = pa.offset + pa.len <= pb.offset || pb.offset + pb.len <= pa.offset;
            assert!(!together || disjoint || lens[a] == 0 || lens[b] == 0, "{text}: {a} and {b} overlap while live");
        }
    }
    let ratio = plan.size as f64 / bound.max(1) as f64;
    assert!(ratio <= 1.05, "{text}: arena {} floats is {ratio:.3} x the bound {bound}", plan.size);
    ratio
}

/// Check both plans of a compiled spec (op-by-op and fused) with liveness recomputed here;
/// returns the worst arena / bound ratio.
pub fn check_program(text: &str, program: &Program) -> f64 {
    let mut worst: f64 = 1.0;
    let net = &program.network;

    // Op-by-op: liveness recomputed from the layers.
    let n = net.tensors.len();
    let (mut first, mut last) = (vec![usize::MAX; n], vec![0; n]);
    for (i, l) in net.layers.iter().enumerate() {
        let reads = [l.input].into_iter().filter_map(|v| if let Value::Tensor(t) = v { Some(t) } else { None });
        let writes = [l.output].into_iter().filter_map(|v| if let Value::Tensor(t) = v { Some(t) } else { None });
        for t in reads.chain(l.residual).chain(writes) {
            first[t] = first[t].min(i);
            last[t] = last[t].max(i);
        }
    }
    let lens: Vec<usize> = net.tensors.iter().map(|s| s.len()).collect();
    worst = worst.max(check_plan(text, &plan_arena::plan(net), &lens, &first, &last));
    assert_eq!(program.op_by_op_bound, plan_arena::plan(net).lower_bound);

    // Fused: buffers are the steps' inputs, outputs and block scratch, and the image staged
    // from 8-bit pixels for the first step.
    let sched = &program.schedule;
    // Each tensor's buffer is that tensor's size, the staged image an image's.
    for (i, buf) in sched.buffers.iter().enumerate() {
        match buf {
            Buffer::Tensor(t) => assert_eq!(sched.lens[i], net.tensors[*t].len(), "{text}: tensor {t}'s buffer"),
            Buffer::Image => assert_eq!(sched.lens[i], net.input.len(), "{text}: the staged image"),
            Buffer::Scratch(_) => {}
        }
    }
    let b = sched.buffers.len();
    let (mut first, mut last) = (vec![usize::MAX; b], vec![0; b]);
    let mut touch = |buf: Buffer, k: usize| {
        let i = sched.buffers.iter().position(|x| *x == buf).expect("buffer listed");
        first[i] = first[i].min(k);
        last[i] = last[i].max(k);
    };
    if net.spec.input.format == InputFormat::Rgb8 {
        touch(Buffer::Image, 0);
    }
    for (k, step) in sched.steps.iter().enumerate() {
        let vals = match step {
            Step::Layer(i) => {
                let l = &net.layers[*i];
                vec![l.input, l.output, l.residual.map_or(Value::Image, Value::Tensor)]
            }
            Step::Block(blk) => {
                touch(Buffer::Scratch(k), k);
                assert_eq!(sched.lens[sched.scratch_of(k).unwrap()], blk.dims.scratch_len());
                vec![blk.input, Value::Tensor(blk.output)]
            }
            Step::Chain(c) => {
                touch(Buffer::Scratch(k), k);
                let (a, b) = (&c.first.dims, &c.second.dims);
                let window = ((c.chunk - 1) * b.stride + 3).min(b.h) * b.w * b.cin;
                assert_eq!(sched.lens[sched.scratch_of(k).unwrap()], window + a.scratch_len().max(b.scratch_len()));
                assert!(sched.buffer_of(c.first.output).is_none(), "{text}: a chained tensor is never materialised");
                vec![c.first.input, Value::Tensor(c.second.output)]
            }
        };
        for v in vals {
            if let Value::Tensor(t) = v {
                touch(Buffer::Tensor(t), k);
            }
        }
    }
    worst = worst.max(check_plan(text, &program.arena, &sched.lens, &first, &last));
    worst
}
