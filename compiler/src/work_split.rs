//! How `forward_parallel` splits each step's work across threads, computed from the plan with
//! the kernels' own rules (`mobilenet_kernels::share`, `BlockDims::splits_channels`; for int8
//! models `mobilenet_kernels::int8::splits_channels`, its 1x1 layers always by pixels): what
//! each thread computes, the multiply-accumulates of the
//! busiest thread, and the balance (work / (threads x busiest thread's work); 100% means no
//! thread waits). Memory traffic and synchronisation are not modelled: this says where threads
//! idle or repeat work, not how fast a step runs.

use crate::ir::{Network, Op};
use crate::passes::fuse_blocks::{Chain, FusedBlock, Step};
use crate::passes::Program;
use mobilenet_kernels::chain::input_rows;
use mobilenet_kernels::layout::NR;
use mobilenet_kernels::{int8, pointwise_splits_units, share, unit_area, units, BlockDims};
use std::fmt::Write;

/// One step's split.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSplit {
    pub step: usize,
    pub what: String,
    /// How the step is split, e.g. "rows 7/7" or "channels: 60 panels, then 10 tiles".
    pub split: String,
    /// Multiply-accumulates of the step (work repeated by threads not counted).
    pub macs: u64,
    /// Multiply-accumulates of the busiest thread (of each phase, summed).
    pub busiest: u64,
}

impl StepSplit {
    pub fn balance(&self, threads: usize) -> f64 {
        self.macs as f64 / (threads as f64 * self.busiest.max(1) as f64)
    }
}

/// Every step's split on `threads` threads, for the f32 model of `program` or (`int8`) its
/// `precision: int8` one.
pub fn work_split(program: &Program, threads: usize, int8: bool) -> Vec<StepSplit> {
    splits(program, threads, if int8 { Rules::Int8 } else { Rules::F32 })
}

/// Whose splits: the f32 kernels', the int8 kernels', or every step by rows or pixels (for
/// comparison).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    F32,
    Int8,
    RowsOnly,
}

fn splits(program: &Program, threads: usize, rules: Rules) -> Vec<StepSplit> {
    let n = threads.max(1);
    let net = &program.network;
    program
        .schedule
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| match step {
            Step::Layer(l) => layer_split(net, k, *l, n, rules),
            Step::Block(b) => {
                let stage = net.layers[b.project].stage.unwrap_or_default();
                block_split(k, format!("features.{stage} (block)"), &b.dims, n, rules)
            }
            Step::Chain(c) => chain_split(program, k, c, n),
        })
        .collect()
}

fn max_share(units: usize, n: usize, cost: impl Fn(core::ops::Range<usize>) -> u64) -> u64 {
    (0..n).map(|i| cost(share(units, n, i))).max().unwrap_or(0)
}

/// Multiply-accumulates of units `r` (`gemm::units`) of a 1x1 of `m` pixels, `k` inputs and
/// `n` outputs: each a chunk of pixels by a chunk of channels (`unit_area`).
fn units_macs(m: usize, n: usize, k: usize, r: core::ops::Range<usize>) -> u64 {
    r.map(|t| {
        let (rows, cols) = unit_area(m, n, t);
        (rows.len() * cols.len() * k) as u64
    })
    .sum()
}

fn layer_split(net: &Network, step: usize, l: usize, n: usize, rules: Rules) -> StepSplit {
    let layer = &net.layers[l];
    let (i, o) = (layer.input_shape, layer.output_shape);
    let what = format!("{} ({})", layer.conv.clone().unwrap_or_else(|| "pool".into()), layer.kind_name());
    let (split, macs, busiest) = match layer.op {
        Op::Stem => {
            let per_row = (o.w * o.c * 27) as u64;
            (format!("rows {}", o.h), o.h as u64 * per_row, max_share(o.h, n, |r| r.len() as u64 * per_row))
        }
        Op::Pointwise { .. } => {
            let (p, per_px) = (i.h * i.w, (i.c * o.c) as u64);
            let macs = p as u64 * per_px;
            if pointwise_splits_units(p, n) && rules == Rules::F32 {
                let count = units(p, o.c);
                let busiest = max_share(count, n, |r| units_macs(p, o.c, i.c, r));
                (format!("units {count} (pixels x channels)"), macs, busiest)
            } else {
                (format!("pixels {p}"), macs, max_share(p, n, |r| r.len() as u64 * per_px))
            }
        }
        Op::Linear => {
            let panels = o.c.div_ceil(NR);
            let cols = |r: core::ops::Range<usize>| ((r.end * NR).min(o.c) - (r.start * NR).min(o.c)) as u64;
            let busiest = max_share(panels, n, |r| cols(r) * i.c as u64);
            (format!("panels {panels}"), (i.c * o.c) as u64, busiest)
        }
        // Pooling runs on the calling thread; depthwise layers only run inside blocks.
        Op::AvgPool | Op::Depthwise { .. } => ("one thread".into(), i.len() as u64, i.len() as u64),
    };
    StepSplit { step, what, split, macs, busiest }
}

fn block_split(step: usize, what: String, d: &BlockDims, n: usize, rules: Rules) -> StepSplit {
    let (h, w, ho, wo) = (d.h as u64, d.w as u64, d.ho() as u64, d.wo() as u64);
    let (cin, hidden, cout) = (d.cin as u64, d.hidden as u64, d.cout as u64);
    // Per expanded (or stem) input row, and per output row.
    let in_row = if d.stem.is_some() { w * 27 * cin } else { d.expand as u64 * w * cin * hidden };
    let out_row = wo * hidden * (9 + cout);
    let macs = h * in_row + ho * out_row;
    if n > 1 && rules == Rules::Int8 && int8::splits_channels(d, n) {
        let split = format!("channels: {} groups of 64, then {} pixels", d.hidden.div_ceil(64), d.ho() * d.wo());
        return StepSplit { step, what, split, macs, busiest: int8::split_work(d, n).1 };
    }
    if n > 1 && rules == Rules::F32 && d.splits_channels(n) {
        let (panels, tiles) = d.channel_units();
        let ch = |r: core::ops::Range<usize>| ((r.end * NR).min(d.hidden) - (r.start * NR).min(d.hidden)) as u64;
        let phase1 = max_share(panels, n, |r| ch(r) * (h * w * cin * d.expand as u64 + ho * wo * 9));
        let phase2 = max_share(tiles, n, |r| units_macs(d.ho() * d.wo(), d.cout, d.hidden, r));
        let split = format!("channels: {panels} panels, then {tiles} units");
        return StepSplit { step, what, split, macs, busiest: phase1 + phase2 };
    }
    // Rows: each thread expands the input rows its output rows' 3x3 windows need.
    let rows = |r: core::ops::Range<usize>| {
        if r.is_empty() {
            return 0;
        }
        let first = (r.start * d.stride).saturating_sub(1);
        let last = ((r.end - 1) * d.stride + 1).min(d.h - 1);
        (last + 1 - first) as u64 * in_row + r.len() as u64 * out_row
    };
    let split = if n > 1 { format!("rows {ho} (halo rows recomputed)") } else { format!("rows {ho}") };
    StepSplit { step, what, split, macs, busiest: max_share(d.ho(), n, rows) }
}

/// A chain splits the second block's output rows; each thread computes, chunk by chunk, the
/// first block's rows its chunks read (halo rows between chunks recomputed) and then the chunk.
fn chain_split(program: &Program, step: usize, c: &Chain, n: usize) -> StepSplit {
    let net = &program.network;
    let stage = |b: &FusedBlock| net.layers[b.project].stage.unwrap_or_default();
    let what = format!("features.{}+{} (chain)", stage(&c.first), stage(&c.second));
    let (a, b) = (&c.first.dims, &c.second.dims);
    let one = |d: &BlockDims| block_split(step, String::new(), d, 1, Rules::RowsOnly);
    // MACs per output row of each block (their rows' share of the whole).
    let (ma, mb) = (one(a).macs / a.ho() as u64, one(b).macs / b.ho() as u64);
    let rows = |r: core::ops::Range<usize>| {
        let mut macs = 0;
        let mut r0 = r.start;
        while r0 < r.end {
            let r1 = (r0 + c.chunk).min(r.end);
            let (lo, hi) = input_rows(b, r0, r1);
            macs += (hi - lo) as u64 * ma + (r1 - r0) as u64 * mb;
            r0 = r1;
        }
        macs
    };
    let macs = one(a).macs + one(b).macs;
    let split = format!("rows {} in chunks of {} (halo rows recomputed)", b.ho(), c.chunk);
    StepSplit { step, what, split, macs, busiest: max_share(b.ho(), n, rows) }
}

/// The splits as a table, with the whole network's balance (`int8` as in `work_split`).
pub fn report(program: &Program, threads: usize, int8: bool) -> String {
    let splits = work_split(program, threads, int8);
    let mut out = format!("Work split on {threads} threads (forward_parallel):\n");
    let _ = writeln!(out, "{:<5} {:<42} {:<40} {:>13} {:>8}", "Step", "What", "Split", "Busiest MACs", "Balance");
    for s in &splits {
        let _ = writeln!(
            out,
            "{:<5} {:<42} {:<40} {:>13} {:>7.0}%",
            s.step,
            s.what,
            s.split,
            crate::summary::thousands(s.busiest),
            100.0 * s.balance(threads)
        );
    }
    let total = |splits: &[StepSplit]| splits.iter().fold((0u64, 0u64), |(m, b), s| (m + s.macs, b + s.busiest));
    let (macs, busiest) = total(&splits);
    let (_, rows_busiest) = total(&self::splits(program, threads, Rules::RowsOnly));
    let _ = writeln!(
        out,
        "Whole network: balance {:.0}%, at most {:.1}x one thread's speed (work only; memory and synchronisation not modelled)",
        100.0 * macs as f64 / (threads as f64 * busiest.max(1) as f64),
        macs as f64 / busiest.max(1) as f64
    );
    let _ = writeln!(
        out,
        "Split by rows and pixels only: balance {:.0}%, at most {:.1}x",
        100.0 * macs as f64 / (threads as f64 * rows_busiest.max(1) as f64),
        macs as f64 / rows_busiest.max(1) as f64
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_is_balanced_and_late_blocks_split_channels_on_many() {
        let program = crate::compile_str("v.yaml", "name: V\nresolution: 224\n").unwrap();
        for s in work_split(&program, 1, false) {
            assert_eq!(s.macs, s.busiest, "{s:?}");
        }
        let on16 = work_split(&program, 16, false);
        // 7x7 and 14x14 blocks have fewer than 4 rows a thread: channels.
        let seven = on16.iter().find(|s| s.what.starts_with("features.16 ")).unwrap();
        assert!(seven.split.starts_with("channels"), "{seven:?}");
        assert!(seven.balance(16) > 0.5, "{seven:?}");
        let early = on16.iter().find(|s| s.what.starts_with("features.2 ")).unwrap();
        assert!(early.split.starts_with("rows"), "{early:?}");
        // The busiest thread does at least its share of the step's work, and at most half as
        // much again as the whole step (the halo rows a row split recomputes).
        for s in &on16 {
            assert!(s.busiest * 16 >= s.macs && s.busiest <= s.macs + s.macs / 2, "{s:?}");
        }
        // The int8 kernels split the 7x7 blocks by groups of 64 channels, then pixels, and the
        // 56x56 ones by rows; on 2 threads the 7x7 blocks (3.5 rows a thread) by channels, the
        // 14x14 ones (7) by rows.
        let int8 = work_split(&program, 16, true);
        let seven = int8.iter().find(|s| s.what.starts_with("features.16 ")).unwrap();
        assert_eq!(seven.split, "channels: 15 groups of 64, then 49 pixels", "{seven:?}");
        assert!(seven.balance(16) > 0.5, "{seven:?}");
        let early = int8.iter().find(|s| s.what.starts_with("features.2 ")).unwrap();
        assert!(early.split.starts_with("rows"), "{early:?}");
        let on2 = work_split(&program, 2, true);
        let by = |name: &str| on2.iter().find(|s| s.what.starts_with(name)).unwrap().split.clone();
        assert!(by("features.16 ").starts_with("channels"), "{on2:?}");
        assert!(by("features.13 ").starts_with("rows"), "{on2:?}");
    }
}
