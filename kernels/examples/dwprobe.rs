use mobilenet_kernels::dispatch::depthwise_dyn;
use mobilenet_kernels::{Cpu, Padding};
fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (h, wd, c, s, iters) = (a[0], a[1], a[2], a[3], a[4]);
    let cpu = Cpu::detect();
    let x = vec![0.5f32; h * wd * c];
    let w = vec![0.1f32; 9 * c];
    let b = vec![0.0f32; c];
    let ho = (h - 1) / s + 1;
    let wo = (wd - 1) / s + 1;
    let mut out = vec![0.0f32; ho * wo * c];
    let t = std::time::Instant::now();
    for _ in 0..iters {
        depthwise_dyn(cpu, h, wd, c, s, Padding::Torch, &x, &w, &b, &mut out);
    }
    let e = t.elapsed().as_secs_f64() / iters as f64;
    println!("{:.2} us, {:.1} GFLOP/s", e * 1e6, (ho * wo * c * 18) as f64 / e / 1e9);
}
