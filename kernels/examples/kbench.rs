//! Kernel throughput on MobileNetV2 1.0-224 shapes, per ISA:
//! `cargo run --release -p mobilenet-kernels --example kbench`.
#![forbid(unsafe_code)]

use mobilenet_kernels::dispatch::{depthwise_dyn, pointwise_dyn, stem_dyn};
use mobilenet_kernels::layout::round_up_nr;
use mobilenet_kernels::{Cpu, Isa};
use std::time::Instant;

fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut t: Vec<f64> = (0..31)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    for isa in Isa::supported() {
        let cpu = Cpu::new(isa).unwrap();
        println!("== {isa:?}");
        let x = vec![0.5f32; 224 * 224 * 3];
        let w = vec![0.01f32; 27 * 32];
        let b = vec![0.0f32; 32];
        let mut out = vec![0.0f32; 112 * 112 * 32];
        let t = time(|| stem_dyn(cpu, 224, 224, 32, &x, &w, &b, &mut out));
        println!("stem 224x224x3->32: {:.3} ms, {:.1} GFLOP/s", t * 1e3, 2.0 * 10_838_016.0 / t / 1e9);
        for (p, k, n) in [
            (3136, 24, 144),
            (3136, 144, 24),
            (784, 32, 192),
            (196, 64, 384),
            (196, 384, 64),
            (49, 160, 960),
            (49, 960, 160),
            (49, 320, 1280),
            (12544, 16, 96),
        ] {
            let x = vec![0.5f32; p * k];
            let w = vec![0.01f32; k * round_up_nr(n)];
            let b = vec![0.0f32; round_up_nr(n)];
            let mut out = vec![0.0f32; p * n];
            let t = time(|| pointwise_dyn(cpu, p, k, n, true, &x, &w, &b, None, &mut out));
            println!("1x1 {p}x{k}->{n}: {:.3} ms, {:.1} GFLOP/s", t * 1e3, 2.0 * (p * k * n) as f64 / t / 1e9);
        }
        // Full maps, and 8-row strips like a fused block's ring (in L2).
        for (h, wd, c, s) in [
            (112, 112, 32, 1),
            (112, 112, 96, 2),
            (56, 56, 144, 1),
            (28, 28, 192, 1),
            (14, 14, 576, 1),
            (7, 7, 960, 1),
            (8, 112, 32, 1),
            (8, 112, 96, 2),
            (8, 56, 144, 1),
        ] {
            let x = vec![0.5f32; h * wd * c];
            let w = vec![0.01f32; 9 * c];
            let b = vec![0.0f32; c];
            let (ho, wo) = ((h - 1) / s + 1, (wd - 1) / s + 1);
            let mut out = vec![0.0f32; ho * wo * c];
            let t = time(|| depthwise_dyn(cpu, h, wd, c, s, &x, &w, &b, &mut out));
            println!("dw {h}x{wd}x{c}/{s}: {:.3} ms, {:.1} GFLOP/s", t * 1e3, 18.0 * (ho * wo * c) as f64 / t / 1e9);
        }
    }
}
