//! The quickstart: `cargo run --release -p quickstart`.
//!
//! Compiles `models/v2.yaml` (MobileNetV2 1.0-224 with baked weights) at build time, classifies
//! the reference image, checks it against torchvision's logits and times `forward`; then runs the
//! trained `models/digits/model.yaml` on its 360 test images and compares with PyTorch.
#![forbid(unsafe_code)]

use quickstart::{le_f32s, softmax, top_k};
use std::time::Instant;

mobilenet_runtime::mobilenet!("../models/v2.yaml");
mobilenet_runtime::mobilenet!("../models/digits/model.yaml");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = MobileNetV2::new();
    let mut arena = MobileNetV2::arena();

    let io_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/v2_1.0_224/io.safetensors");
    let io = std::fs::read(io_path)?;
    let io = safetensors::SafeTensors::deserialize(&io)?;
    let floats =
        |name: &str| -> Result<Vec<f32>, safetensors::SafeTensorError> { Ok(le_f32s(io.tensor(name)?.data())) };
    let image_len = MobileNetV2::INPUT_HEIGHT * MobileNetV2::INPUT_WIDTH * MobileNetV2::INPUT_CHANNELS;
    let input = floats("input_nhwc")?[..image_len].to_vec();
    let torchvision = floats("logits")?[..MobileNetV2::NUM_CLASSES].to_vec();

    let mut logits = vec![0.0f32; MobileNetV2::NUM_CLASSES];
    model.forward(&mut arena, &input, &mut logits)?;

    let top5 = |v: &[f32]| top_k(v, 5);
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
    println!();
    digits()
}

/// The trained digits model on its held-out test split, against PyTorch's logits.
fn digits() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/digits/test.safetensors");
    let bytes = std::fs::read(path)?;
    let test = safetensors::SafeTensors::deserialize(&bytes)?;
    let inputs = le_f32s(test.tensor("input_nhwc")?.data());
    let pytorch = le_f32s(test.tensor("logits")?.data());
    let labels: Vec<usize> = test
        .tensor("labels")?
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
        .collect();

    const K: usize = DigitsNet::NUM_CLASSES;
    let image_len = DigitsNet::INPUT_HEIGHT * DigitsNet::INPUT_WIDTH * DigitsNet::INPUT_CHANNELS;
    let model = DigitsNet::new();
    let mut arena = DigitsNet::arena();
    let mut logits = vec![0.0f32; labels.len() * K];
    for (x, out) in inputs.chunks_exact(image_len).zip(logits.chunks_exact_mut(K)) {
        model.forward(&mut arena, x, out)?;
    }

    let argmax = |v: &[f32]| top_k(v, 1)[0];
    let ours: Vec<usize> = logits.chunks_exact(K).map(argmax).collect();
    let theirs: Vec<usize> = pytorch.chunks_exact(K).map(argmax).collect();
    let n = labels.len();
    let correct = |p: &[usize]| p.iter().zip(&labels).filter(|(a, b)| a == b).count();
    let agree = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    let diff = logits.iter().zip(&pytorch).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("DigitsNet (models/digits/model.yaml), trained on scikit-learn digits: {n} test images");
    println!(
        "accuracy {}/{n} = {:.4} (PyTorch {}/{n}); top-1 agreement with PyTorch {agree}/{n}; max |logit diff| {diff:.2e}",
        correct(&ours),
        correct(&ours) as f64 / n as f64,
        correct(&theirs),
    );
    // The first image and every mistake.
    let shown = (0..n).filter(|&i| i == 0 || ours[i] != labels[i]);
    for i in shown {
        let p = softmax(&logits[i * K..(i + 1) * K]);
        let order = top_k(&p, 2);
        println!(
            "  image {i:3}: label {}, predicted {} (p {:.4}), next {} (p {:.4})",
            DigitsNet::LABELS[labels[i]],
            DigitsNet::LABELS[order[0]],
            p[order[0]],
            DigitsNet::LABELS[order[1]],
            p[order[1]],
        );
    }
    Ok(())
}
