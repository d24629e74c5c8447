//! Memory planning. `plan_buffers` gives every buffer of the fused schedule (activations that
//! exist in full, and each fused block's scratch) a fixed offset in one arena such that no two
//! buffers live at the same time overlap: it tries several greedy orders, a two-ended
//! placement (a step's input and output at opposite ends, its scratch between) and a local
//! search, aiming at the liveness lower bound. `plan` and `op_by_op_bound` do the same for
//! the unfused op-by-op schedule, which is kept for comparison only. Both schedules get their
//! lifetimes from `live_ranges`.

use crate::ir::Network;
use std::fmt;

/// Offsets are kept on 64-byte boundaries when that costs no more than `SLACK` of the bound.
const ALIGN: usize = 16;
const SLACK: f64 = 0.05;

/// One buffer's place and lifetime (step indices, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index of the buffer placed (into the planned schedule's buffers).
    pub buffer: usize,
    /// Offset in floats.
    pub offset: usize,
    /// Length in floats.
    pub len: usize,
    pub first: usize,
    pub last: usize,
}

impl Placement {
    pub fn region(&self) -> (usize, usize) {
        (self.offset, self.len)
    }

    pub fn lives_with(&self, o: &Placement) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

/// The arena plan: a value to print and check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlan {
    /// Indexed by buffer.
    pub placements: Vec<Placement>,
    /// Arena size in floats.
    pub size: usize,
    /// The most floats live at once under this schedule: no plan can be smaller.
    pub lower_bound: usize,
}

impl ArenaPlan {
    pub fn bytes(&self) -> usize {
        self.size * 4
    }

    /// The plan with one byte an activation (an int8 model), rounded up to whole floats (its
    /// arena is allocated, and checked, as floats).
    pub fn int8_bytes(&self) -> usize {
        self.size.next_multiple_of(4)
    }

    pub fn lower_bound_bytes(&self) -> usize {
        self.lower_bound * 4
    }
}

/// `(first, last)` step of each of `buffers` buffers, given the buffers each step reads or
/// writes, in step order. A buffer no step touches gets `(usize::MAX, 0)`.
pub fn live_ranges<S: IntoIterator<Item = usize>>(
    buffers: usize,
    steps: impl IntoIterator<Item = S>,
) -> Vec<(usize, usize)> {
    let mut live = vec![(usize::MAX, 0); buffers];
    for (k, touched) in steps.into_iter().enumerate() {
        for b in touched {
            live[b] = (live[b].0.min(k), live[b].1.max(k));
        }
    }
    live
}

/// `(first, last)` layer index of each tensor under the op-by-op schedule.
pub fn liveness(net: &Network) -> Vec<(usize, usize)> {
    live_ranges(net.tensors.len(), net.layers.iter().map(|l| l.tensors()))
}

/// Floats live during step `step`: the sum of the buffers whose lifetime covers it.
pub fn live_at(lens: &[usize], live: &[(usize, usize)], step: usize) -> usize {
    lens.iter().zip(live).filter(|(_, &(f, l))| f <= step && step <= l).map(|(n, _)| n).sum()
}

/// The liveness lower bound: the largest sum of buffers live during one step.
pub fn lower_bound(lens: &[usize], live: &[(usize, usize)], steps: usize) -> usize {
    (0..steps).map(|i| live_at(lens, live, i)).max().unwrap_or(0)
}

/// The op-by-op plan: every layer's output materialised.
pub fn plan(net: &Network) -> ArenaPlan {
    let lens: Vec<usize> = net.tensors.iter().map(|s| s.len()).collect();
    plan_buffers(&lens, &liveness(net), net.layers.len())
}

/// The liveness lower bound of the op-by-op schedule, in floats.
pub fn op_by_op_bound(net: &Network) -> usize {
    let lens: Vec<usize> = net.tensors.iter().map(|s| s.len()).collect();
    lower_bound(&lens, &liveness(net), net.layers.len())
}

/// Plan buffers of `lens` floats, each live over the steps `live[i]` (inclusive), in a
/// schedule of `steps` steps.
pub fn plan_buffers(lens: &[usize], live: &[(usize, usize)], steps: usize) -> ArenaPlan {
    let lower_bound = lower_bound(lens, live, steps);
    // Several greedy orders; keep the smallest plan, preferring aligned offsets while they
    // stay within SLACK of the bound.
    let orders = placement_orders(lens, live, steps);
    let best = |align: usize| {
        let (order, plan) = orders
            .iter()
            .map(|o| (o, place(o, lens, live, align)))
            .min_by_key(|(_, (_, size))| *size)
            .map(|(o, p)| (o.clone(), p))
            .unwrap_or_default();
        if plan.1 <= lower_bound {
            return plan;
        }
        // Chains of steps fit exactly when consecutive buffers sit at opposite ends.
        let ends = two_ended(lens, live, align, lower_bound.next_multiple_of(align));
        if ends.1 <= lower_bound.next_multiple_of(align) {
            return ends;
        }
        let plan = improve(order, plan, lens, live, align, lower_bound);
        if ends.1 < plan.1 {
            ends
        } else {
            plan
        }
    };
    let mut chosen = best(ALIGN);
    if chosen.1 as f64 > lower_bound as f64 * (1.0 + SLACK) {
        let unaligned = best(1);
        if unaligned.1 < chosen.1 {
            chosen = unaligned;
        }
    }
    let (placements, size) = chosen;
    ArenaPlan { placements, size, lower_bound }
}

/// Place buffers in order of birth, alternating the buffers that outlive their first step
/// between the bottom and the top of a `total`-float arena (one-step buffers, such as a block's
/// scratch, go to the lowest free place). In a chain of steps, a step's input and output then
/// sit at opposite ends with its scratch between them, so the plan meets the liveness bound.
fn two_ended(lens: &[usize], live: &[(usize, usize)], align: usize, total: usize) -> (Vec<Placement>, usize) {
    // By birth; within a step, the buffers that live on first (they take the ends).
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&b| (live[b].0, std::cmp::Reverse(live[b].1), std::cmp::Reverse(lens[b])));
    let mut placed: Vec<Placement> = Vec::with_capacity(lens.len());
    let mut top = false;
    for b in order {
        let me = Placement { buffer: b, offset: 0, len: lens[b], first: live[b].0, last: live[b].1 };
        let busy: Vec<(usize, usize)> =
            placed.iter().filter(|p| p.lives_with(&me)).map(|p| (p.offset, p.offset + p.len)).collect();
        let free = |o: usize| busy.iter().all(|&(s, e)| o + me.len <= s || e <= o);
        let lowest = || {
            std::iter::once(0)
                .chain(busy.iter().map(|&(_, e)| e.next_multiple_of(align)))
                .filter(|&o| free(o))
                .min()
                .unwrap_or(0)
        };
        let outlives_step = me.last > me.first;
        let offset = if outlives_step && top && me.len <= total {
            let highest = std::iter::once(total - me.len)
                .chain(busy.iter().filter(|&&(s, _)| s >= me.len).map(|&(s, _)| s - me.len))
                .map(|o| o / align * align)
                .filter(|&o| o + me.len <= total && free(o))
                .max();
            highest.unwrap_or_else(lowest)
        } else {
            lowest()
        };
        if outlives_step {
            top = !top;
        }
        placed.push(Placement { offset, ..me });
    }
    placed.sort_by_key(|p| p.buffer);
    let size = placed.iter().map(|p| p.offset + p.len).max().unwrap_or(0);
    (placed, size)
}

/// Local search over placement orders when greedy misses the bound: move one buffer to
/// another place in the order, keep the move if the plan is no larger. Deterministic.
fn improve(
    mut order: Vec<usize>,
    mut plan: (Vec<Placement>, usize),
    lens: &[usize],
    live: &[(usize, usize)],
    align: usize,
    lower_bound: usize,
) -> (Vec<Placement>, usize) {
    let n = order.len();
    if n < 2 {
        return plan;
    }
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % m as u64) as usize
    };
    for _ in 0..400 {
        if plan.1 <= lower_bound {
            break;
        }
        let mut candidate = order.clone();
        let b = candidate.remove(next(n));
        candidate.insert(next(n), b);
        let p = place(&candidate, lens, live, align);
        if p.1 <= plan.1 {
            order = candidate;
            plan = p;
        }
    }
    plan
}

/// Orders to place buffers in: largest first (TFLite's "greedy by size"), by birth, and
/// "greedy by breadth" (the buffers of the most crowded steps first).
fn placement_orders(lens: &[usize], live: &[(usize, usize)], steps: usize) -> Vec<Vec<usize>> {
    let all: Vec<usize> = (0..lens.len()).collect();
    let mut by_size = all.clone();
    by_size.sort_by_key(|&b| (std::cmp::Reverse(lens[b]), b));
    let mut by_birth = all.clone();
    by_birth.sort_by_key(|&b| (live[b].0, std::cmp::Reverse(lens[b])));
    let crowd =
        |i: usize| -> usize { (0..lens.len()).filter(|&b| live[b].0 <= i && i <= live[b].1).map(|b| lens[b]).sum() };
    let mut crowded: Vec<usize> = (0..steps).collect();
    crowded.sort_by_key(|&i| std::cmp::Reverse(crowd(i)));
    let mut by_breadth = Vec::with_capacity(lens.len());
    for i in crowded {
        let mut here: Vec<usize> =
            all.iter().copied().filter(|&b| live[b].0 <= i && i <= live[b].1 && !by_breadth.contains(&b)).collect();
        here.sort_by_key(|&b| std::cmp::Reverse(lens[b]));
        by_breadth.extend(here);
    }
    let rest: Vec<usize> = all.iter().copied().filter(|b| !by_breadth.contains(b)).collect();
    by_breadth.extend(rest);
    vec![by_size, by_birth, by_breadth]
}

/// Place buffers in `order`, each into the tightest gap left by the buffers already placed
/// that live at the same time.
fn place(order: &[usize], lens: &[usize], live: &[(usize, usize)], align: usize) -> (Vec<Placement>, usize) {
    let mut placed: Vec<Placement> = Vec::with_capacity(lens.len());
    for &b in order {
        let me = Placement { buffer: b, offset: 0, len: lens[b], first: live[b].0, last: live[b].1 };
        let mut busy: Vec<(usize, usize)> =
            placed.iter().filter(|p| p.lives_with(&me)).map(|p| (p.offset, p.offset + p.len)).collect();
        busy.sort_unstable();
        let mut best: Option<(usize, usize)> = None; // (gap size, offset)
        let mut cursor = 0;
        for &(start, end) in &busy {
            if start >= cursor && start - cursor >= me.len {
                let gap = start - cursor;
                if best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, cursor));
                }
            }
            cursor = cursor.max(end).next_multiple_of(align);
        }
        let offset = best.map_or(cursor, |(_, o)| o);
        placed.push(Placement { offset, ..me });
    }
    placed.sort_by_key(|p| p.buffer);
    let size = placed.iter().map(|p| p.offset + p.len).max().unwrap_or(0);
    (placed, size)
}

/// Independent check of a plan: every buffer inside the arena, no two buffers that live at the
/// same time overlap.
pub fn verify(plan: &ArenaPlan) -> Result<(), String> {
    for p in &plan.placements {
        if p.offset + p.len > plan.size {
            return Err(format!("buffer {} ends at {}, past the arena's {}", p.buffer, p.offset + p.len, plan.size));
        }
    }
    for (i, a) in plan.placements.iter().enumerate() {
        for b in &plan.placements[i + 1..] {
            let overlap = a.offset < b.offset + b.len && b.offset < a.offset + a.len;
            if a.lives_with(b) && overlap && a.len > 0 && b.len > 0 {
                return Err(format!(
                    "buffers {} and {} live at the same time and overlap ({:?} vs {:?})",
                    a.buffer,
                    b.buffer,
                    a.region(),
                    b.region()
                ));
            }
        }
    }
    Ok(())
}

impl fmt::Display for ArenaPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "arena: {} bytes (liveness lower bound {} bytes, +{:.2}%)",
            self.bytes(),
            self.lower_bound_bytes(),
            (self.size as f64 / self.lower_bound.max(1) as f64 - 1.0) * 100.0
        )?;
        writeln!(f, "{:>6}  {:>12}  {:>12}  {:>9}", "buffer", "offset (B)", "bytes", "live")?;
        for p in &self.placements {
            writeln!(f, "{:>6}  {:>12}  {:>12}  {:>4}..{:<4}", p.buffer, p.offset * 4, p.len * 4, p.first, p.last)?;
        }
        Ok(())
    }
}
