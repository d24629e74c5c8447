//! Ours against ours, A/B in one process, alternating round by round, medians of per-round
//! medians, as markdown tables:
//!
//! - shape-constant kernels against the run-time-shaped ones (`Arena::set_specialized`), for
//!   v2 1.0-224 and 0.35-96 in f32 and, with `--features bench`, v2 1.0-224 in int8 on the
//!   CPU's int8 kernels: the whole forward pass at 1 and 2 threads, and every step at 1 thread
//!   (timed between the `forward_inspect` callbacks that follow each `features.N` stage; the
//!   last row is pooling and the classifier);
//! - `forward_batch` of 8 images against 8 `forward`s of the same 8 inputs, one thread.
//!
//! `cargo run --release -p mobilenet-benches [--features bench] --bin self_ab [-- ROUNDS]`
#![forbid(unsafe_code)]

use std::time::Instant;

use mobilenet_benches::{median, MobileNetV2, MobileNetV2Tiny, TINY, V2};
use mobilenet_runtime::{Arena, Threads};

// Behind `bench`, like `int8_ab`: CI never builds (and calibrates) this 1.0-224 model.
#[cfg(feature = "bench")]
mobilenet_runtime::mobilenet!("specs/v2_int8.yaml");

const ITERS: usize = 20;

/// Per-round medians of whole passes, `[dyn, specialized]`.
type Whole = [Vec<f64>; 2];

macro_rules! ab {
    ($model:ident, $case:expr, $title:expr, $rounds:expr) => {{
        let model = $model::new();
        let input = $case.fixture().input_nhwc;
        let mut logits = vec![0.0f32; $model::NUM_CLASSES];
        let mut arena = $model::arena();
        let mut pool = Threads::new(2);
        let mut arena2 = $model::arena_for(&pool);
        let mut whole: [Whole; 2] = Default::default();
        // stage name -> [dyn, specialized] per-round medians
        let mut steps: Vec<(String, [usize; 3], [Vec<f64>; 2])> = Vec::new();
        for round in 0..$rounds {
            for spec in [round % 2 == 0, round % 2 != 0] {
                let s = spec as usize;
                for a in [&mut arena, &mut arena2] {
                    Arena::set_specialized(a, spec);
                }
                let mut t1 = Vec::new();
                let mut t2 = Vec::new();
                for _ in 0..ITERS {
                    let t = Instant::now();
                    model.forward(&mut arena, &input, &mut logits).expect("forward");
                    t1.push(t.elapsed().as_secs_f64() * 1e3);
                    let t = Instant::now();
                    model.forward_parallel(&mut pool, &mut arena2, &input, &mut logits).expect("forward_parallel");
                    t2.push(t.elapsed().as_secs_f64() * 1e3);
                }
                whole[0][s].push(median(t1));
                whole[1][s].push(median(t2));
                let mut per: Vec<Vec<f64>> = Vec::new();
                for _ in 0..ITERS {
                    let mut marks: Vec<(String, [usize; 3], Instant)> = Vec::new();
                    model
                        .forward_inspect(&mut arena, &input, &mut logits, &mut |name, shape, _| {
                            marks.push((name.to_string(), shape, Instant::now()))
                        })
                        .expect("forward_inspect");
                    let end = Instant::now();
                    if steps.is_empty() {
                        for w in marks.windows(2) {
                            steps.push((w[1].0.clone(), w[1].1, Default::default()));
                        }
                        steps.push(("pool + classifier".to_string(), [1, 1, $model::NUM_CLASSES], Default::default()));
                    }
                    let mut times: Vec<f64> = marks.windows(2).map(|w| (w[1].2 - w[0].2).as_secs_f64() * 1e3).collect();
                    times.push((end - marks.last().expect("stages").2).as_secs_f64() * 1e3);
                    per.push(times);
                }
                for (k, step) in steps.iter_mut().enumerate() {
                    step.2[s].push(median(per.iter().map(|t| t[k]).collect()));
                }
            }
        }
        println!("\n### {} ({} rounds x {ITERS} iterations, medians)\n", $title, $rounds);
        println!("| pass | threads | run-time shapes | shape-constant | shape-constant / run-time |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        for (t, w) in whole.iter().enumerate() {
            let (d, s) = (median(w[0].clone()), median(w[1].clone()));
            println!("| forward | {} | {d:.3} ms | {s:.3} ms | {:.2} |", t + 1, s / d);
        }
        println!("\n| step (output) | shape | run-time shapes | shape-constant | shape-constant / run-time |");
        println!("| --- | --- | ---: | ---: | ---: |");
        let (mut td, mut ts) = (0.0, 0.0);
        for (name, shape, t) in &steps {
            let (d, s) = (median(t[0].clone()), median(t[1].clone()));
            td += d;
            ts += s;
            println!("| {name} | {}x{}x{} | {d:.4} ms | {s:.4} ms | {:.2} |", shape[0], shape[1], shape[2], s / d);
        }
        println!("| sum of steps | | {td:.3} ms | {ts:.3} ms | {:.2} |", ts / td);

        const BATCH: usize = 8;
        let batch_input: Vec<f32> = (0..BATCH).flat_map(|_| input.iter().copied()).collect();
        let mut batch_logits = vec![0.0f32; BATCH * $model::NUM_CLASSES];
        let mut batch_arena = $model::arena_batch(BATCH);
        Arena::set_specialized(&mut arena, true);
        let mut per_image: [Vec<f64>; 2] = Default::default();
        for round in 0..$rounds {
            for batched in [round % 2 == 0, round % 2 != 0] {
                let mut t = Vec::new();
                for _ in 0..ITERS / 4 {
                    let start = Instant::now();
                    if batched {
                        model.forward_batch(&mut batch_arena, &batch_input, &mut batch_logits).expect("forward_batch");
                    } else {
                        // The batch's own images (copies of one, at their own addresses):
                        // the same input traffic as the batch, not one image warm in cache.
                        for image in batch_input.chunks_exact(input.len()) {
                            model.forward(&mut arena, image, &mut logits).expect("forward");
                        }
                    }
                    t.push(start.elapsed().as_secs_f64() * 1e3 / BATCH as f64);
                }
                per_image[batched as usize].push(median(t));
            }
        }
        let (seq, bat) = (median(per_image[0].clone()), median(per_image[1].clone()));
        println!("\n| batch of {BATCH}, 1 thread | ms per image | images/s | vs sequential |");
        println!("| --- | ---: | ---: | ---: |");
        println!("| {BATCH} x `forward` | {seq:.3} | {:.0} | 1.00 |", 1e3 / seq);
        println!("| `forward_batch` | {bat:.3} | {:.0} | {:.2}x |", 1e3 / bat, seq / bat);
    }};
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(11, |r| r.parse().expect("ROUNDS: a number"));
    println!("CPU: {}", cpu_name());
    ab!(MobileNetV2, V2, V2.group, rounds);
    ab!(MobileNetV2Tiny, TINY, TINY.group, rounds);
    #[cfg(feature = "bench")]
    ab!(MobileNetV2Int8, V2, "v2 1.0-224 int8 (`specs/v2_int8.yaml`)", rounds);
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}
