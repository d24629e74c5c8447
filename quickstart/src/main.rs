//! The quickstart: `cargo run --release -p quickstart`.
//!
//! Compiles `models/v2.yaml` (MobileNetV2 1.0-224 with baked weights) at build time, classifies
//! the reference image, checks it against torchvision's logits and times `forward`.
#![forbid(unsafe_code)]

use std::time::Instant;

mobilenet_runtime::mobilenet!("../models/v2.yaml");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = MobileNetV2::new();
    let mut arena = MobileNetV2::arena();

    let io_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/v2_1.0_224/io.safetensors");
    let io = std::fs::read(io_path)?;
    let io = safetensors::SafeTensors::deserialize(&io)?;
    let floats = |name: &str| -> Result<Vec<f32>, safetensors::SafeTensorError> {
        Ok(io.tensor(name)?.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    let image_len = MobileNetV2::INPUT_HEIGHT * MobileNetV2::INPUT_WIDTH * MobileNetV2::INPUT_CHANNELS;
    let input = floats("input_nhwc")?[..image_len].to_vec();
    let torchvision = floats("logits")?[..MobileNetV2::NUM_CLASSES].to_vec();

    let mut logits = vec![0.0f32; MobileNetV2::NUM_CLASSES];
    model.forward(&mut arena, &input, &mut logits)?;

    let top5 = |v: &[f32]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
        idx.truncate(5);
        idx
    };
    println!("MobileNetV2 1.0-224 (models/v2.yaml), reference image 0");
    println!("top-5 (class: logit):");
    for c in top5(&logits) {
        println!("  {c:4}: {:8.4}", logits[c]);
    }
    let diff = logits.iter().zip(&torchvision).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("torchvision agreement: max |diff| {diff:.2e}, same top-5: {}", top5(&logits) == top5(&torchvision));

    for _ in 0..5 {
        model.forward(&mut arena, &input, &mut logits)?;
    }
    let mut times: Vec<f64> = (0..50)
        .map(|_| {
            let t = Instant::now();
            model.forward(&mut arena, &input, &mut logits).map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "latency, 1 thread: median {median:.2} ms, best {:.2} ms over {} runs ({:.1} GFLOP/s, {:?} kernels)",
        times[0],
        times.len(),
        2.0 * MobileNetV2::MACS as f64 / median / 1e6,
        arena.isa()
    );
    let mut threads = mobilenet_runtime::Threads::new(2);
    let mut arena2 = MobileNetV2::arena_for(&threads);
    let mut logits2 = vec![0.0f32; MobileNetV2::NUM_CLASSES];
    for _ in 0..5 {
        model.forward_parallel(&mut threads, &mut arena2, &input, &mut logits2)?;
    }
    let mut times2: Vec<f64> = (0..50)
        .map(|_| {
            let t = Instant::now();
            model
                .forward_parallel(&mut threads, &mut arena2, &input, &mut logits2)
                .map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    times2.sort_by(f64::total_cmp);
    println!(
        "latency, 2 threads: median {:.2} ms, best {:.2} ms (same logits: {})",
        times2[times2.len() / 2],
        times2[0],
        logits2 == logits
    );
    println!(
        "arena: {} bytes ({:.2} MiB); parameters: {}; MACs: {}",
        MobileNetV2::ARENA_BYTES,
        MobileNetV2::ARENA_BYTES as f64 / (1 << 20) as f64,
        MobileNetV2::PARAMETERS,
        MobileNetV2::MACS
    );
    Ok(())
}
