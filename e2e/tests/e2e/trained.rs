//! The trained digits model (`models/digits/`) on its 360 held-out test images against PyTorch:
//! logits, predictions and accuracy, through `forward` and `forward_parallel`.

use crate::models::*;
use mobilenet_e2e::{le_f32s, max_abs_diff, repo_root, top_k};
use mobilenet_runtime::Threads;

const TOL: f32 = 1e-4;
const K: usize = DigitsNet::NUM_CLASSES;
const IMAGE_LEN: usize = DigitsNet::INPUT_HEIGHT * DigitsNet::INPUT_WIDTH * DigitsNet::INPUT_CHANNELS;

/// `input_nhwc`, `labels` and PyTorch's `logits` of the test split.
struct TestSplit {
    inputs: Vec<f32>,
    labels: Vec<usize>,
    logits: Vec<f32>,
}

fn test_split() -> TestSplit {
    let bytes = std::fs::read(repo_root().join("fixtures/digits/test.safetensors")).expect("fixture");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("fixture is safetensors");
    let f32s = |name: &str| le_f32s(st.tensor(name).expect(name).data());
    let labels = st.tensor("labels").expect("labels");
    assert_eq!(labels.dtype(), safetensors::Dtype::I64);
    let labels = labels
        .data()
        .chunks_exact(8)
        .map(|c| usize::try_from(i64::from_le_bytes(c.try_into().unwrap())).unwrap())
        .collect();
    TestSplit { inputs: f32s("input_nhwc"), labels, logits: f32s("logits") }
}

fn argmax(v: &[f32]) -> usize {
    top_k(v, 1)[0]
}

/// Logits within 1e-4 of PyTorch's, every prediction PyTorch's, accuracy PyTorch's 358/360.
fn check(split: &TestSplit, got: &[f32]) {
    assert_eq!(got.len(), split.logits.len());
    let n = split.labels.len();
    let mut correct = 0;
    for i in 0..n {
        let (ours, theirs) = (&got[i * K..(i + 1) * K], &split.logits[i * K..(i + 1) * K]);
        let diff = max_abs_diff(ours, theirs);
        assert!(diff <= TOL, "image {i}: logits max |diff| {diff} > {TOL}");
        assert_eq!(argmax(ours), argmax(theirs), "image {i}: prediction differs from PyTorch's");
        correct += usize::from(argmax(ours) == split.labels[i]);
    }
    let pytorch_correct = (0..n).filter(|&i| argmax(&split.logits[i * K..(i + 1) * K]) == split.labels[i]).count();
    assert_eq!((correct, n), (358, 360), "accuracy");
    assert_eq!(correct, pytorch_correct);
}

#[test]
fn digits_forward_matches_pytorch() {
    let split = test_split();
    assert_eq!(split.labels.len(), 360);
    assert_eq!(split.inputs.len(), 360 * IMAGE_LEN);
    let model = DigitsNet::new();
    let mut arena = DigitsNet::arena();
    let mut got = vec![0.0f32; split.logits.len()];
    for (x, out) in split.inputs.chunks_exact(IMAGE_LEN).zip(got.chunks_exact_mut(K)) {
        model.forward(&mut arena, x, out).unwrap();
    }
    check(&split, &got);
}

#[test]
fn digits_forward_parallel_is_bit_identical() {
    let split = test_split();
    let model = DigitsNet::new();
    let mut arena = DigitsNet::arena();
    let mut threads = Threads::new(2);
    let mut par_arena = DigitsNet::arena_for(&threads);
    let mut serial = vec![0.0f32; split.logits.len()];
    let mut parallel = vec![0.0f32; split.logits.len()];
    for ((x, s), p) in
        split.inputs.chunks_exact(IMAGE_LEN).zip(serial.chunks_exact_mut(K)).zip(parallel.chunks_exact_mut(K))
    {
        model.forward(&mut arena, x, s).unwrap();
        model.forward_parallel(&mut threads, &mut par_arena, x, p).unwrap();
    }
    assert!(serial.iter().zip(&parallel).all(|(a, b)| a.to_bits() == b.to_bits()), "2 threads differ from 1");
    check(&split, &parallel);
}

#[test]
fn digits_labels_are_the_digits() {
    let want: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(DigitsNet::LABELS.to_vec(), want);
}
