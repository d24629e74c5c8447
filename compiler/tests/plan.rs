//! The arena plan over many specs: valid (checked independently here) and within 5% of the
//! liveness lower bound of the op-by-op schedule.

use mobilenet_compiler::compile_str;
use mobilenet_compiler::ir::Value;
use mobilenet_compiler::passes::fuse_blocks::{Buffer, Step};
use mobilenet_compiler::passes::plan_arena::{self, ArenaPlan};

fn specs() -> Vec<String> {
    let tables = [
        "",
        "inverted_residual_setting: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]\n",
        "inverted_residual_setting: [[2, 8, 3, 1], [4, 8, 2, 2], [1, 24, 1, 1], [3, 16, 2, 2]]\nround_nearest: 4\n",
        "inverted_residual_setting: [[6, 320, 1, 2]]\nlast_channel: 64\n",
    ];
    let mut out = Vec::new();
    for res in ["1", "2", "3", "7", "31", "57", "[33, 65]", "[96, 17]", "160", "224"] {
        for width in ["0.1", "0.35", "0.5", "0.75", "1.0", "1.4", "2.0"] {
            for table in tables {
                out.push(format!("name: N\nresolution: {res}\nwidth_mult: {width}\nnum_classes: 7\n{table}"));
            }
        }
    }
    out
}

/// Independent check: inside the arena, no two buffers live at once overlap, within 5% of the
/// liveness bound (recomputed here) of the schedule planned.
fn check_plan(text: &str, plan: &ArenaPlan, lens: &[usize], first: &[usize], last: &[usize]) -> f64 {
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

#[test]
fn plans_are_valid_and_tight() {
    let mut worst: f64 = 1.0;
    for text in specs() {
        let program = compile_str("spec.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
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
        worst = worst.max(check_plan(&text, &plan_arena::plan(net), &lens, &first, &last));
        assert_eq!(program.op_by_op_bound, plan_arena::plan(net).lower_bound);

        // Fused: buffers are the steps' inputs, outputs and block scratch.
        let sched = &program.schedule;
        let b = sched.buffers.len();
        let (mut first, mut last) = (vec![usize::MAX; b], vec![0; b]);
        let mut touch = |buf: Buffer, k: usize| {
            let i = sched.buffers.iter().position(|x| *x == buf).expect("buffer listed");
            first[i] = first[i].min(k);
            last[i] = last[i].max(k);
        };
        for (k, step) in sched.steps.iter().enumerate() {
            let vals = match step {
                Step::Layer(i) => {
                    let l = &net.layers[*i];
                    vec![l.input, l.output, l.residual.map_or(Value::Image, Value::Tensor)]
                }
                Step::Block(blk) => {
                    touch(Buffer::Scratch(k), k);
                    assert_eq!(sched.lens[sched.scratch_of(k).unwrap()], blk.dims.scratch_len());
                    vec![Value::Tensor(blk.input), Value::Tensor(blk.output)]
                }
            };
            for v in vals {
                if let Value::Tensor(t) = v {
                    touch(Buffer::Tensor(t), k);
                }
            }
        }
        worst = worst.max(check_plan(&text, &program.arena, &sched.lens, &first, &last));
    }
    println!("worst arena / lower bound: {worst:.4}");
}

#[test]
fn v2_fused_plan_fits_in_2_5_mib() {
    let program = compile_str("v2.yaml", "name: V\nresolution: 224\n").unwrap();
    // Op by op, block 2's 112x112x96 expanded tensor and its 56x56x96 depthwise output are live
    // together; fused, only bottleneck tensors and band buffers are.
    assert_eq!(program.op_by_op_bound * 4, 6_021_120);
    assert!(program.arena.bytes() <= 2_621_440, "{}", program.arena.bytes());
    assert!(program.schedule.blocks().count() == 17);
}
