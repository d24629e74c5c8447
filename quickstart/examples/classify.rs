//! Classify photos: `cargo run --release -p quickstart --example classify -- PHOTO [PHOTO...]`.
//!
//! Decodes each JPEG or PNG, resizes it as the model's training pipeline did, runs
//! `forward_rgb8` and prints the top-5 classes with softmax probabilities.
#![forbid(unsafe_code)]

use quickstart::{photo, KerasPhoto};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: classify PHOTO [PHOTO...]   (JPEG or PNG)");
        return ExitCode::from(2);
    }
    let model = KerasPhoto::new();
    let mut arena = KerasPhoto::arena();
    let mut failed = false;
    for path in &paths {
        if let Err(e) = classify(&model, &mut arena, Path::new(path)) {
            eprintln!("error: {path}: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn classify(
    model: &KerasPhoto,
    arena: &mut mobilenet_runtime::Arena,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let img = photo::load(path)?;
    let pixels = photo::preprocess(&img, KerasPhoto::PADDING, KerasPhoto::INPUT_HEIGHT, KerasPhoto::INPUT_WIDTH);
    let mut logits = [0.0f32; KerasPhoto::NUM_CLASSES];
    model.forward_rgb8(arena, &pixels, &mut logits)?;
    let probs = quickstart::softmax(&logits);
    println!("{} ({}x{}):", path.display(), img.width(), img.height());
    for c in quickstart::top_k(&probs, 5) {
        println!("  {:.4}  {}", probs[c], KerasPhoto::LABELS[c]);
    }
    Ok(())
}
