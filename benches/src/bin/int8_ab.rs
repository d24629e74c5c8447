//! int8 against f32 on MobileNetV2 1.0-224, batch 1, alternating in one process: each round
//! times `REPS` back-to-back `forward`s of each contender (`forward_parallel` above one
//! thread) after an untimed one, the contenders in rotating order, and the medians over the
//! rounds are printed with their ratios to f32, per thread count. The contenders: f32, int8 on the CPU's best int8 kernels, and, where VNNI chose them,
//! int8 on the AVX2 kernels too (`Arena::set_vnni(false)`).
//! Both models are the torchvision reference weights baked by the macro; the int8 one is
//! `specs/v2_int8.yaml`. Also prints the int8 logits' RMS error against f32 on the reference
//! image and whether the top-5 agree.
//!
//! `cargo run --release -p mobilenet-benches --features bench --bin int8_ab -- [ROUNDS]`
//! (default 200 rounds; threads 1 and 2).
#![forbid(unsafe_code)]

use mobilenet_benches::{top_k, MobileNetV2, V2};
use mobilenet_runtime::Threads;
use std::time::Instant;

mobilenet_runtime::mobilenet!("specs/v2_int8.yaml");

/// Forwards timed per contender and round, after one that is not.
const REPS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(200, |a| a.parse().expect("ROUNDS is a number"));
    let x = V2.fixture().input_nhwc;
    let (f32_model, int8_model) = (MobileNetV2::new(), MobileNetV2Int8::new());
    let mut a32 = MobileNetV2::arena();
    let mut a8 = MobileNetV2Int8::arena();
    let (mut l32, mut l8) = (vec![0.0f32; 1000], vec![0.0f32; 1000]);
    f32_model.forward(&mut a32, &x, &mut l32).unwrap();
    int8_model.forward(&mut a8, &x, &mut l8).unwrap();
    let rms = (l32.iter().zip(&l8).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>() / 1000.0).sqrt();
    let spread = (l32.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>() / 1000.0).sqrt();
    println!(
        "int8 vs f32 logits on reference image 0: RMS error {rms:.4} (f32 logits' RMS {spread:.3}); top-5 f32 {:?}, int8 {:?}",
        top_k(&l32, 5),
        top_k(&l8, 5)
    );
    // The int8 contenders: the best kernels, then without AMX, then without VNNI, where each
    // changes the kernels.
    let mut choices: Vec<(bool, bool, &str)> = Vec::new();
    let isa = a8.isa();
    for (vnni, amx) in [(true, true), (true, false), (false, false)] {
        a8.set_vnni(vnni);
        a8.set_amx(amx);
        if choices.iter().all(|c| c.2 != a8.int8_kernels()) {
            choices.push((vnni, amx, a8.int8_kernels()));
        }
    }
    let int8s = choices.len();
    let kernels: Vec<&str> = choices.iter().map(|c| c.2).collect();
    println!(
        "ARENA_BYTES: f32 {}, int8 {}; isa {:?}; int8 kernels {kernels:?}",
        MobileNetV2::ARENA_BYTES,
        MobileNetV2Int8::ARENA_BYTES,
        isa,
    );
    for threads in [1usize, 2] {
        let mut pool = Threads::new(threads);
        let mut p32 = MobileNetV2::arena_for(&pool);
        let mut p8: Vec<_> = choices
            .iter()
            .map(|&(vnni, amx, _)| {
                let mut a = MobileNetV2Int8::arena_for(&pool);
                a.set_vnni(vnni);
                a.set_amx(amx);
                a
            })
            .collect();
        let mut times = vec![Vec::new(); 1 + int8s];
        for round in 0..rounds + 10 {
            for turn in 0..=int8s {
                // Rotate the order so that no contender always runs after the same one.
                let who = (turn + round) % (1 + int8s);
                // Back to back, as a model runs in use: the first forward of a turn warms the
                // caches and is not counted.
                for rep in 0..=REPS {
                    let t = Instant::now();
                    match (who, threads) {
                        (0, 1) => f32_model.forward(&mut a32, &x, &mut l32).unwrap(),
                        (0, _) => f32_model.forward_parallel(&mut pool, &mut p32, &x, &mut l32).unwrap(),
                        (i, 1) => int8_model.forward(&mut p8[i - 1], &x, &mut l8).unwrap(),
                        (i, _) => int8_model.forward_parallel(&mut pool, &mut p8[i - 1], &x, &mut l8).unwrap(),
                    }
                    if round >= 10 && rep > 0 {
                        times[who].push(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
            }
        }
        let m: Vec<f64> = times.into_iter().map(median).collect();
        let int8: Vec<String> = (0..int8s)
            .map(|i| format!("int8 ({}) {:.3} ms, {:.3} of f32", kernels[i], m[1 + i], m[1 + i] / m[0]))
            .collect();
        println!("{threads} thread(s), {rounds} rounds, medians: f32 {:.3} ms; {}", m[0], int8.join("; "));
    }
}
