//! Kernel throughput on MobileNetV2 1.0-224 shapes, per ISA:
//! `cargo run --release -p mobilenet-kernels --example kbench`.
#![forbid(unsafe_code)]

use mobilenet_kernels::dispatch::{depthwise_dyn, linear_dyn, pointwise_dyn, stem_dyn};
use mobilenet_kernels::layout::round_up_nr;
use mobilenet_kernels::{
    fma_peak_gflops, fused_block_dyn, par_block_dyn, BlockDims, BlockParams, Cpu, Isa, Padding, Threads,
};
use std::time::Instant;

/// Median seconds of `runs` calls of `f`, each after `before` (not timed).
fn median_time(runs: usize, mut before: impl FnMut(), mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            before();
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Median time with warm caches.
fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    median_time(31, || {}, f)
}

/// Median time with the caches first filled by other data, as when weights stream from memory
/// in the network (only the 7x7 blocks and the classifier use each weight so few times).
fn time_cold(f: impl FnMut()) -> f64 {
    let mut junk = vec![1.0f32; 16 << 20];
    median_time(21, || junk.iter_mut().for_each(|v| *v += 1.0), f)
}

fn main() {
    for isa in Isa::supported() {
        let cpu = Cpu::new(isa).unwrap();
        println!("== {isa:?}: FMA peak {:.1} GFLOP/s per core", fma_peak_gflops(cpu));
        let x = vec![0.5f32; 224 * 224 * 3];
        let w = vec![0.01f32; 27 * 32];
        let b = vec![0.0f32; 32];
        let mut out = vec![0.0f32; 112 * 112 * 32];
        let t = time(|| stem_dyn(cpu, 224, 224, 32, Padding::Torch, &x, &w, &b, &mut out));
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
            if p < 100 {
                let t = time_cold(|| pointwise_dyn(cpu, p, k, n, true, &x, &w, &b, None, &mut out));
                println!("1x1 {p}x{k}->{n} cold: {:.3} ms, {:.1} GFLOP/s", t * 1e3, 2.0 * (p * k * n) as f64 / t / 1e9);
            }
        }
        {
            // Weights hot in cache here; in the network they come from L3 or memory.
            let (k, n) = (1280, 1000);
            let x = vec![0.5f32; k];
            let w = vec![0.01f32; k * round_up_nr(n)];
            let b = vec![0.0f32; round_up_nr(n)];
            let mut out = vec![0.0f32; n];
            let t = time(|| linear_dyn(cpu, k, n, &x, &w, &b, &mut out));
            println!(
                "linear {k}->{n}: {:.3} ms, {:.1} GB/s of weights",
                t * 1e3,
                (4 * k * round_up_nr(n)) as f64 / t / 1e9
            );
            let t = time_cold(|| linear_dyn(cpu, k, n, &x, &w, &b, &mut out));
            println!(
                "linear {k}->{n} cold: {:.3} ms, {:.1} GB/s of weights",
                t * 1e3,
                (4 * k * round_up_nr(n)) as f64 / t / 1e9
            );
        }
        let blocks = [
            (
                "features.7",
                BlockDims {
                    h: 28,
                    w: 28,
                    cin: 32,
                    hidden: 192,
                    cout: 64,
                    stride: 2,
                    expand: true,
                    residual: false,
                    band: 14,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
            (
                "features.8",
                BlockDims {
                    h: 14,
                    w: 14,
                    cin: 64,
                    hidden: 384,
                    cout: 64,
                    stride: 1,
                    expand: true,
                    residual: true,
                    band: 14,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
            (
                "features.1",
                BlockDims {
                    h: 112,
                    w: 112,
                    cin: 32,
                    hidden: 32,
                    cout: 16,
                    stride: 1,
                    expand: false,
                    residual: false,
                    band: 5,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
            (
                "features.2",
                BlockDims {
                    h: 112,
                    w: 112,
                    cin: 16,
                    hidden: 96,
                    cout: 24,
                    stride: 2,
                    expand: true,
                    residual: false,
                    band: 10,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
            (
                "features.3",
                BlockDims {
                    h: 56,
                    w: 56,
                    cin: 24,
                    hidden: 144,
                    cout: 24,
                    stride: 1,
                    expand: true,
                    residual: true,
                    band: 10,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
            (
                "features.12",
                BlockDims {
                    h: 14,
                    w: 14,
                    cin: 96,
                    hidden: 576,
                    cout: 96,
                    stride: 1,
                    expand: true,
                    residual: true,
                    band: 14,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
            (
                "features.16",
                BlockDims {
                    h: 7,
                    w: 7,
                    cin: 160,
                    hidden: 960,
                    cout: 160,
                    stride: 1,
                    expand: true,
                    residual: true,
                    band: 7,
                    stem: None,
                    padding: Padding::Torch,
                },
            ),
        ];
        let sweep: Vec<(&str, BlockDims)> = std::env::var("SWEEP")
            .map(|_| {
                let mut v = Vec::new();
                for (name, d) in blocks {
                    for band in [1, 2, 4, 8, 16, 32, 56, 112] {
                        if band <= d.ho() {
                            v.push((name, BlockDims { band, ..d }));
                        }
                    }
                }
                v
            })
            .unwrap_or_else(|_| blocks.to_vec());
        for (name, d) in sweep {
            let x = vec![0.5f32; d.x_len()];
            let mut y = vec![0.0f32; d.y_len()];
            let mut scratch = vec![0.0f32; d.scratch_len()];
            let ew = vec![0.01f32; d.cin * round_up_nr(d.hidden)];
            let eb = vec![0.0f32; round_up_nr(d.hidden)];
            let dw = vec![0.01f32; 9 * d.hidden];
            let db = vec![0.0f32; d.hidden];
            let pw = vec![0.01f32; d.hidden * round_up_nr(d.cout)];
            let pb = vec![0.0f32; round_up_nr(d.cout)];
            let p = BlockParams {
                stem: None,
                expand: d.expand.then_some((&ew[..], &eb[..])),
                depthwise: (&dw, &db),
                project: (&pw, &pb),
            };
            let t = time(|| fused_block_dyn(cpu, &d, &x, &mut y, p, &mut scratch, 0..d.ho()));
            let macs =
                (d.expand as usize * d.h * d.w * d.cin * d.hidden + d.ho() * d.wo() * d.hidden * (9 + d.cout)) as f64;
            println!("block {name} band {}: {:.3} ms, {:.1} GFLOP/s", d.band, t * 1e3, 2.0 * macs / t / 1e9);
            {
                let mut pool = Threads::new(2);
                let mut extra = vec![0.0f32; d.scratch_len()];
                let t2 = time(|| {
                    par_block_dyn(Some(&mut pool), cpu, &d, &x, &mut y, p, &mut scratch, &mut extra, d.scratch_len())
                });
                println!("block {name} band {}, 2 threads: {:.3} ms, {:.2}x one thread", d.band, t2 * 1e3, t / t2);
            }
            if d.h < 28 {
                let t = time_cold(|| fused_block_dyn(cpu, &d, &x, &mut y, p, &mut scratch, 0..d.ho()));
                println!("block {name} band {} cold: {:.3} ms, {:.1} GFLOP/s", d.band, t * 1e3, 2.0 * macs / t / 1e9);
            }
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
            let t = time(|| depthwise_dyn(cpu, h, wd, c, s, Padding::Torch, &x, &w, &b, &mut out));
            println!("dw {h}x{wd}x{c}/{s}: {:.3} ms, {:.1} GFLOP/s", t * 1e3, 18.0 * (ho * wo * c) as f64 / t / 1e9);
        }
    }
}
