//! Time of each `features.N` stage of models/v2.yaml (from `forward_inspect` callbacks):
//! `cargo run --release -p mobilenet-benches --bin stages`.
#![forbid(unsafe_code)]

use std::time::Instant;

use mobilenet_benches::MobileNetV2;

fn main() {
    // STAGES_LOADED=1: weights loaded at run time (heap) instead of baked into the binary.
    let model = match std::env::var_os("STAGES_LOADED") {
        Some(_) => {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/v2_1.0_224.safetensors");
            MobileNetV2::from_safetensors(&std::fs::read(path).expect("weights")).expect("load")
        }
        None => MobileNetV2::new(),
    };
    let mut arena = MobileNetV2::arena();
    let input = vec![0.5f32; 224 * 224 * 3];
    let mut logits = vec![0.0f32; 1000];
    let runs = 200;
    let mut totals = [0.0f64; 20];
    let mut wall = Vec::new();
    for run in 0..runs + 20 {
        let start = Instant::now();
        let mut last = start;
        let mut i = 0;
        let mut times = [0.0f64; 20];
        model
            .forward_inspect(&mut arena, &input, &mut logits, &mut |_, _, _| {
                let now = Instant::now();
                times[i] = (now - last).as_secs_f64();
                last = now;
                i += 1;
            })
            .unwrap();
        times[i] = last.elapsed().as_secs_f64();
        if run >= 20 {
            for (t, x) in totals.iter_mut().zip(times) {
                *t += x;
            }
            wall.push(start.elapsed().as_secs_f64());
        }
    }
    wall.sort_by(f64::total_cmp);
    println!("isa {:?}; median {:.3} ms", arena.isa(), wall[runs / 2] * 1e3);
    for (i, t) in totals.iter().enumerate() {
        let name = if i < 19 { format!("features.{i}") } else { "pool+classifier".into() };
        println!("{name:>16}: {:.3} ms", t / runs as f64 * 1e3);
    }
}
