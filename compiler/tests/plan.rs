//! The arena plan over many specs: valid (checked independently here) and within 5% of the
//! liveness lower bound of the op-by-op schedule; `plan: memory` follows its rule on every spec
//! and pins the arena of the two reference models.

mod common;

use mobilenet_compiler::passes::fuse_blocks::{Buffer, Step};
use mobilenet_compiler::{compile_str, summary::summary, Program};
use mobilenet_kernels::BlockDims;

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

#[test]
fn plans_are_valid_and_tight() {
    let mut worst: f64 = 1.0;
    for text in specs() {
        let program = compile_str("spec.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        worst = worst.max(common::check_program(&text, &program));
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

/// `plan: memory`'s rule, checked from outside: the speed schedule's blocks, some consecutive
/// pairs chained, each band at most speed's; the liveness bound is the one of one-row bands and
/// one-row chunks (recomputed here), no higher than without the chains; and a band narrower
/// than speed's, or a chunk shorter than the map, would, one row wider, push the floats live
/// during its step past that bound.
fn check_memory_rule(text: &str, speed: &Program, memory: &Program) {
    let (s, m) = (&speed.schedule, &memory.schedule);
    let live_at = |k: usize, len: &dyn Fn(usize) -> usize| -> usize {
        (0..m.buffers.len()).filter(|&i| m.live[i].0 <= k && k <= m.live[i].1).map(len).sum()
    };
    let one = |d: &BlockDims| BlockDims { band: 1, ..*d };
    let chain_len = |a: &BlockDims, b: &BlockDims, chunk: usize| {
        ((chunk - 1) * b.stride + 3).min(b.h) * b.w * b.cin + a.scratch_len().max(b.scratch_len())
    };
    let one_row = |i: usize| match m.buffers[i] {
        Buffer::Scratch(k) => match &m.steps[k] {
            Step::Block(b) => one(&b.dims).scratch_len(),
            Step::Chain(c) => chain_len(&one(&c.first.dims), &one(&c.second.dims), 1),
            Step::Layer(_) => panic!("{text}: scratch of a layer step"),
        },
        _ => m.lens[i],
    };
    let bound = (0..m.steps.len()).map(|k| live_at(k, &one_row)).max().unwrap_or(0);
    assert_eq!(memory.arena.lower_bound, bound, "{text}");
    assert!(bound <= speed.arena.lower_bound, "{text}");
    // Walk the speed steps alongside: a chain stands for two of them.
    let mut j = 0;
    for (k, step) in m.steps.iter().enumerate() {
        let blocks = match step {
            Step::Layer(_) => {
                assert_eq!(step, &s.steps[j], "{text}: step {k}");
                j += 1;
                continue;
            }
            Step::Block(b) => vec![b],
            Step::Chain(c) => vec![&c.first, &c.second],
        };
        for b in &blocks {
            let Step::Block(a) = &s.steps[j] else { panic!("{text}: step {k} is no block under speed") };
            assert_eq!(BlockDims { band: a.dims.band, ..b.dims }, a.dims, "{text}: step {k}");
            assert_eq!((a.input, a.output), (b.input, b.output), "{text}: step {k}");
            assert!(1 <= b.dims.band && b.dims.band <= a.dims.band, "{text}: step {k}");
            j += 1;
        }
        let wider_breaks = |len: usize| {
            live_at(k, &|i: usize| if m.buffers[i] == Buffer::Scratch(k) { len } else { m.lens[i] }) > bound
        };
        match step {
            Step::Block(b) => {
                let speed_band = match &s.steps[j - 1] {
                    Step::Block(a) => a.dims.band,
                    _ => unreachable!(),
                };
                if b.dims.band < speed_band {
                    let wider = BlockDims { band: b.dims.band + 1, ..b.dims }.scratch_len();
                    assert!(wider_breaks(wider), "{text}: step {k} could take bands of {}", b.dims.band + 1);
                }
            }
            Step::Chain(c) => {
                assert_eq!((c.first.dims.band, c.second.dims.band), (1, 1), "{text}: step {k}");
                assert!(1 <= c.chunk && c.chunk <= c.second.dims.ho(), "{text}: step {k}");
                if c.chunk < c.second.dims.ho() {
                    let wider = chain_len(&c.first.dims, &c.second.dims, c.chunk + 1);
                    assert!(wider_breaks(wider), "{text}: step {k} could take chunks of {}", c.chunk + 1);
                }
            }
            Step::Layer(_) => unreachable!(),
        }
    }
    assert_eq!(j, s.steps.len(), "{text}");
}

#[test]
fn memory_plans_follow_the_rule() {
    let rgb8 = "padding: tf\ninput: {format: rgb8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n";
    let mut texts = specs();
    texts.extend(["16", "31", "[30, 36]", "96", "224"].map(|r| format!("name: N\nresolution: {r}\n{rgb8}")));
    texts.push(format!("name: N\nresolution: 64\ninverted_residual_setting: [[2, 8, 1, 1], [3, 16, 2, 2]]\n{rgb8}"));
    let (mut narrowed, mut smaller) = (0, 0);
    for text in texts {
        let speed = compile_str("spec.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        let explicit = compile_str("spec.yaml", &format!("{text}plan: speed\n")).unwrap();
        assert_eq!(speed.schedule, explicit.schedule, "{text}: `speed` is the default");
        let text = format!("{text}plan: memory\n");
        let memory = compile_str("spec.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        common::check_program(&text, &memory);
        check_memory_rule(&text, &speed, &memory);
        narrowed += usize::from(memory.schedule != speed.schedule);
        smaller += usize::from(memory.arena.bytes() < speed.arena.bytes());
    }
    println!("memory plan: {narrowed} schedules narrowed, {smaller} arenas smaller");
    assert!(smaller > 100, "{smaller}");
}

/// The memory plans of the reference models: MobileNetV2 0.35-96
/// (`models/v2_0.35_96_c10_memory.yaml`, the speed model's spec but for its name and `plan`)
/// within 128 KiB, 1.0-224 within 0.8 MiB. Without chains, 1.0-224 could not go below 1,103,872
/// bytes: block features.2's 112x112x16 input and 56x56x24 output alone take that; chained,
/// features.1's output is never materialised.
#[test]
fn memory_plan_arena_bytes() {
    let tiny = include_str!("../../models/v2_0.35_96_c10.yaml");
    let tiny_memory = include_str!("../../models/v2_0.35_96_c10_memory.yaml");
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("name:") && !l.starts_with("plan:"))
            .map(String::from)
            .collect()
    };
    assert_eq!(strip(tiny), strip(tiny_memory));
    let v2 = include_str!("../../models/v2.yaml");
    let memory = |t: &str| format!("{t}plan: memory\n");
    let cases = [(tiny, tiny_memory.to_string(), 608_256, 55_296), (v2, memory(v2), 1_254_400, 546_560)];
    for (speed_text, memory_text, speed_bytes, memory_bytes) in cases {
        let speed = compile_str("speed.yaml", speed_text).unwrap();
        let memory = compile_str("memory.yaml", &memory_text).unwrap();
        check_memory_rule(&memory_text, &speed, &memory);
        assert_eq!((speed.arena.bytes(), memory.arena.bytes()), (speed_bytes, memory_bytes));
        assert_eq!(memory.arena.bytes(), memory.arena.lower_bound_bytes());
        assert!(memory.arena.bytes() <= if speed_text == tiny { 131_072 } else { 838_860 });
        let s = summary(&memory, None);
        assert!(
            s.contains(
                "\nPlan: memory (blocks chained and row bands narrowed where they set the peak: the bound is that of one-row bands and chunks)\n"
            ),
            "{s}"
        );
    }
}
