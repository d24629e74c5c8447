//! `plan: memory` against `plan: speed`, A/B in one process, one thread, alternating round by
//! round (which plan goes first alternates too), medians of per-round medians, as markdown
//! tables: the whole forward pass and every step (timed between the `forward_inspect` callbacks
//! that follow each `features.N` stage; the last row is pooling and the classifier), with each
//! plan's `ARENA_BYTES`. A chained step (two blocks run as one under `plan: memory`) shows under
//! its second block, and its time there includes the recomputation of the first block's output
//! that `forward_inspect` does for the callback: compare chained steps by the whole pass only.
//!
//! Both plans of a model load the same weights (`models/*.safetensors`, `from_safetensors`) and
//! run reference image 0; their logits must agree bit for bit before timing starts.
//!
//! `cargo run --release -p mobilenet-benches --bin plan_ab [-- ROUNDS]`
#![forbid(unsafe_code)]

use std::time::Instant;

use mobilenet_benches::{median, read, MobileNetV2, MobileNetV2Tiny, TINY, V2};

mobilenet_runtime::mobilenet!("../models/v2_0.35_96_c10_memory.yaml");
mobilenet_runtime::mobilenet!("specs/v2_memory.yaml");

const ITERS: usize = 20;

/// One forward pass: whole-pass milliseconds, or per-step milliseconds with `inspect`.
macro_rules! timed {
    ($model:expr, $arena:expr, $x:expr, $logits:expr) => {{
        let t = Instant::now();
        $model.forward(&mut $arena, $x, &mut $logits).expect("forward");
        t.elapsed().as_secs_f64() * 1e3
    }};
    (inspect $model:expr, $arena:expr, $x:expr, $logits:expr) => {{
        let mut marks: Vec<(String, [usize; 3], Instant)> = Vec::new();
        $model
            .forward_inspect(&mut $arena, $x, &mut $logits, &mut |name, shape, _| {
                marks.push((name.to_string(), shape, Instant::now()))
            })
            .expect("forward_inspect");
        let end = Instant::now();
        let mut steps: Vec<(String, [usize; 3], f64)> =
            marks.windows(2).map(|w| (w[1].0.clone(), w[1].1, (w[1].2 - w[0].2).as_secs_f64() * 1e3)).collect();
        let last = marks.last().expect("stages").2;
        steps.push(("pool + classifier".to_string(), [1, 1, $logits.len()], (end - last).as_secs_f64() * 1e3));
        steps
    }};
}

macro_rules! ab {
    ($speed:ident, $memory:ident, $case:expr, $rounds:expr) => {{
        let weights = read(&$case.weights_path());
        let speed = $speed::from_safetensors(&weights).expect("speed plan loads the weights");
        let memory = $memory::from_safetensors(&weights).expect("memory plan loads the weights");
        let input = $case.fixture().input_nhwc;
        let (mut a_speed, mut a_memory) = ($speed::arena(), $memory::arena());
        let mut logits = [vec![0.0f32; $speed::NUM_CLASSES], vec![0.0f32; $memory::NUM_CLASSES]];
        speed.forward(&mut a_speed, &input, &mut logits[0]).expect("forward");
        memory.forward(&mut a_memory, &input, &mut logits[1]).expect("forward");
        assert!(logits[0].iter().zip(&logits[1]).all(|(a, b)| a.to_bits() == b.to_bits()), "plans disagree");
        // [speed, memory] per-round medians: whole passes, and per step.
        let mut whole: [Vec<f64>; 2] = Default::default();
        let mut steps: Vec<(String, [usize; 3], [Vec<f64>; 2])> = Vec::new();
        for round in 0..$rounds {
            for mem in [round % 2 != 0, round % 2 == 0] {
                let m = mem as usize;
                let t: Vec<f64> = (0..ITERS)
                    .map(|_| {
                        if mem {
                            timed!(memory, a_memory, &input, logits[1])
                        } else {
                            timed!(speed, a_speed, &input, logits[0])
                        }
                    })
                    .collect();
                whole[m].push(median(t));
                let per: Vec<Vec<(String, [usize; 3], f64)>> = (0..ITERS)
                    .map(|_| {
                        if mem {
                            timed!(inspect memory, a_memory, &input, logits[1])
                        } else {
                            timed!(inspect speed, a_speed, &input, logits[0])
                        }
                    })
                    .collect();
                if steps.is_empty() {
                    steps = per[0].iter().map(|(n, s, _)| (n.clone(), *s, Default::default())).collect();
                }
                for (k, step) in steps.iter_mut().enumerate() {
                    step.2[m].push(median(per.iter().map(|t| t[k].2).collect()));
                }
            }
        }
        println!("\n### {} ({} rounds x {ITERS} iterations, 1 thread, medians)\n", $case.group, $rounds);
        println!("| plan | ARENA_BYTES | forward | memory / speed |");
        println!("| --- | ---: | ---: | ---: |");
        let (s, m) = (median(whole[0].clone()), median(whole[1].clone()));
        println!("| speed | {} | {s:.3} ms | 1.00 |", $speed::ARENA_BYTES);
        println!("| memory | {} | {m:.3} ms | {:.3} |", $memory::ARENA_BYTES, m / s);
        println!("\n| step (output) | shape | speed | memory | memory / speed |");
        println!("| --- | --- | ---: | ---: | ---: |");
        let (mut ts, mut tm) = (0.0, 0.0);
        for (name, shape, t) in &steps {
            let (s, m) = (median(t[0].clone()), median(t[1].clone()));
            ts += s;
            tm += m;
            println!("| {name} | {}x{}x{} | {s:.4} ms | {m:.4} ms | {:.2} |", shape[0], shape[1], shape[2], m / s);
        }
        println!("| sum of steps | | {ts:.3} ms | {tm:.3} ms | {:.3} |", tm / ts);
    }};
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(11, |r| r.parse().expect("ROUNDS: a number"));
    println!("CPU: {}", cpu_name());
    ab!(MobileNetV2Tiny, MobileNetV2TinyMemory, TINY, rounds);
    ab!(MobileNetV2, MobileNetV2Memory, V2, rounds);
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
