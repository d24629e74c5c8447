//! int8 against f32 on MobileNetV2 1.0-224, batch 1, A/B alternating in one process: each round
//! times one `forward` of each model (`forward_parallel` above one thread), in alternating
//! order, and the medians over the rounds are printed with their ratio, per thread count.
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
    println!(
        "ARENA_BYTES: f32 {}, int8 {}; isa {:?}",
        MobileNetV2::ARENA_BYTES,
        MobileNetV2Int8::ARENA_BYTES,
        a8.isa()
    );
    for threads in [1usize, 2] {
        let mut pool = Threads::new(threads);
        let mut p32 = MobileNetV2::arena_for(&pool);
        let mut p8 = MobileNetV2Int8::arena_for(&pool);
        let (mut t32, mut t8) = (Vec::new(), Vec::new());
        for round in 0..rounds + 10 {
            let mut time = |int8: bool| {
                let t = Instant::now();
                match (int8, threads) {
                    (false, 1) => f32_model.forward(&mut a32, &x, &mut l32).unwrap(),
                    (true, 1) => int8_model.forward(&mut a8, &x, &mut l8).unwrap(),
                    (false, _) => f32_model.forward_parallel(&mut pool, &mut p32, &x, &mut l32).unwrap(),
                    (true, _) => int8_model.forward_parallel(&mut pool, &mut p8, &x, &mut l8).unwrap(),
                }
                t.elapsed().as_secs_f64() * 1e3
            };
            let (first, second) = if round % 2 == 0 { (false, true) } else { (true, false) };
            let (a, b) = (time(first), time(second));
            if round >= 10 {
                let (f, i) = if first { (b, a) } else { (a, b) };
                t32.push(f);
                t8.push(i);
            }
        }
        let (m32, m8) = (median(t32), median(t8));
        println!(
            "{threads} thread(s), {rounds} rounds: f32 {m32:.3} ms, int8 {m8:.3} ms (median), int8/f32 {:.3}",
            m8 / m32
        );
    }
}
