//! Every way a weights file can be wrong gives an `Err` naming the tensor, never a panic.

use mobilenet_kernels::checkpoint::TORCH_BN_EPS;
use mobilenet_kernels::{load_params, Error, ParamKind, ParamLayer};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// A two-layer model: stem (2 channels, BN) and a 2 -> 3 classifier.
fn layers() -> Vec<ParamLayer<'static>> {
    let stem = ParamKind::Stem { cout: 2 };
    vec![
        ParamLayer { conv: "features.0.0", bn: Some("features.0.1"), kind: stem, offset: 0 },
        ParamLayer {
            conv: "classifier.1",
            bn: None,
            kind: ParamKind::Linear { cin: 2, cout: 3 },
            offset: stem.packed_len(),
        },
    ]
}

fn total() -> usize {
    layers().iter().map(|l| l.kind.packed_len()).sum()
}

/// (name, dtype, shape, values as f32 bit patterns already encoded)
type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

fn f32_entry(name: &str, shape: &[usize], fill: impl Fn(usize) -> f32) -> Entry {
    let n: usize = shape.iter().product();
    let data = (0..n).flat_map(|i| fill(i).to_le_bytes()).collect();
    (name.to_string(), Dtype::F32, shape.to_vec(), data)
}

fn good_entries() -> Vec<Entry> {
    vec![
        f32_entry("features.0.0.weight", &[2, 3, 3, 3], |i| i as f32 * 0.01),
        f32_entry("features.0.1.weight", &[2], |_| 1.5),
        f32_entry("features.0.1.bias", &[2], |_| 0.25),
        f32_entry("features.0.1.running_mean", &[2], |_| 0.1),
        f32_entry("features.0.1.running_var", &[2], |_| 2.0),
        ("features.0.1.num_batches_tracked".into(), Dtype::I64, vec![], 7i64.to_le_bytes().to_vec()),
        f32_entry("classifier.1.weight", &[3, 2], |i| i as f32),
        f32_entry("classifier.1.bias", &[3], |i| -(i as f32)),
    ]
}

fn serialize(entries: &[Entry]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).expect("valid view")))
        .collect();
    safetensors::serialize(views, None).expect("serialize")
}

fn load(entries: &[Entry]) -> Result<Vec<f32>, Error> {
    load_params(&serialize(entries), &layers(), total(), TORCH_BN_EPS)
}

#[test]
fn good_file_loads_and_folds() {
    let p = load(&good_entries()).unwrap();
    let scale = 1.5 / (2.0f64 + 1e-5).sqrt();
    // Packed stem weight [ky][kx][ci][co]: tap 0, ci 0, co 1 is OIHW index 27.
    assert!((p[1] as f64 - 0.27 * scale).abs() < 1e-6);
    let stem_w = 27 * 2;
    assert!((p[stem_w] as f64 - (0.25 - 0.1 * scale)).abs() < 1e-6, "folded bias");
    let lin = ParamKind::Stem { cout: 2 }.packed_len();
    // The classifier is packed like a 1x1 convolution: [ci][16 output lanes], then the bias.
    assert_eq!(&p[lin..lin + 3], &[0.0, 2.0, 4.0]);
    assert_eq!(&p[lin + 16..lin + 19], &[1.0, 3.0, 5.0]);
    assert_eq!(&p[lin + 32..lin + 35], &[0.0, -1.0, -2.0]);
}

#[test]
fn garbage_is_not_safetensors() {
    let e = load_params(b"definitely not a safetensors file", &layers(), total(), TORCH_BN_EPS).unwrap_err();
    assert!(matches!(e, Error::NotSafetensors { .. }), "{e}");
    let e = load_params(&[], &layers(), total(), TORCH_BN_EPS).unwrap_err();
    assert!(matches!(e, Error::NotSafetensors { .. }), "{e}");
}

#[test]
fn truncated_file_is_an_error() {
    let bytes = serialize(&good_entries());
    for cut in [bytes.len() - 1, bytes.len() / 2, 9, 4] {
        let e = load_params(&bytes[..cut], &layers(), total(), TORCH_BN_EPS).unwrap_err();
        assert!(matches!(e, Error::NotSafetensors { .. }), "cut at {cut}: {e}");
    }
}

#[test]
fn lying_header_length_is_an_error() {
    let mut bytes = serialize(&good_entries());
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(load_params(&bytes, &layers(), total(), TORCH_BN_EPS), Err(Error::NotSafetensors { .. })));
}

#[test]
fn missing_tensor_is_named() {
    let mut entries = good_entries();
    entries.retain(|e| e.0 != "features.0.1.running_var");
    let e = load(&entries).unwrap_err();
    assert_eq!(e, Error::MissingTensor { name: "features.0.1.running_var".into(), expected_shape: vec![2] });
    assert_eq!(e.to_string(), "tensor `features.0.1.running_var` is missing from the weights (expected shape [2])");
}

#[test]
fn extra_tensor_is_named() {
    let mut entries = good_entries();
    entries.push(f32_entry("features.0.0.bias", &[2], |_| 0.0));
    let e = load(&entries).unwrap_err();
    assert_eq!(e, Error::UnexpectedTensor { name: "features.0.0.bias".into(), shape: vec![2] });
    // A num_batches_tracked of a BatchNorm the model lacks is extra too.
    let mut entries = good_entries();
    entries.push(("features.9.1.num_batches_tracked".into(), Dtype::I64, vec![], vec![0; 8]));
    assert!(matches!(load(&entries), Err(Error::UnexpectedTensor { .. })));
}

#[test]
fn wrong_shape_says_expected_and_found() {
    let mut entries = good_entries();
    entries[0] = f32_entry("features.0.0.weight", &[4, 3, 3, 3], |_| 0.0);
    let e = load(&entries).unwrap_err();
    assert_eq!(
        e,
        Error::ShapeMismatch {
            name: "features.0.0.weight".into(),
            expected: vec![2, 3, 3, 3],
            found: vec![4, 3, 3, 3]
        }
    );
    assert_eq!(e.to_string(), "tensor `features.0.0.weight` has shape [4, 3, 3, 3], expected [2, 3, 3, 3]");
}

#[test]
fn unsupported_dtype_is_named() {
    let mut entries = good_entries();
    entries[6] = ("classifier.1.weight".into(), Dtype::I32, vec![3, 2], vec![0; 24]);
    let e = load(&entries).unwrap_err();
    assert_eq!(e, Error::UnsupportedDtype { name: "classifier.1.weight".into(), found: "I32".into() });
    entries[6] = ("classifier.1.weight".into(), Dtype::F64, vec![3, 2], vec![0; 48]);
    assert!(matches!(load(&entries), Err(Error::UnsupportedDtype { .. })));
}

#[test]
fn f16_and_bf16_load_like_f32() {
    let as_half = |dtype: Dtype| -> Vec<Entry> {
        good_entries()
            .into_iter()
            .map(|(n, d, s, b)| {
                if d != Dtype::F32 {
                    return (n, d, s, b);
                }
                let halves = b
                    .chunks_exact(4)
                    .flat_map(|c| {
                        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        let bits = match dtype {
                            Dtype::BF16 => (v.to_bits() >> 16) as u16,
                            _ => f32_to_f16_truncating(v),
                        };
                        bits.to_le_bytes()
                    })
                    .collect();
                (n, dtype, s, halves)
            })
            .collect()
    };
    let reference = load(&good_entries()).unwrap();
    for dtype in [Dtype::F16, Dtype::BF16] {
        let p = load(&as_half(dtype)).unwrap();
        for (a, b) in p.iter().zip(&reference) {
            assert!((a - b).abs() <= 0.02 * b.abs().max(0.05), "{dtype:?}: {a} vs {b}");
        }
    }
}

/// Truncating f32 -> f16 for normal values (enough for the test's small numbers).
fn f32_to_f16_truncating(v: f32) -> u16 {
    if v == 0.0 {
        return 0;
    }
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let man = ((bits >> 13) & 0x3ff) as u16;
    sign | ((exp as u16) << 10) | man
}

#[test]
fn nan_weights_and_negative_variance_are_errors() {
    let mut entries = good_entries();
    entries[0] = f32_entry("features.0.0.weight", &[2, 3, 3, 3], |i| if i == 5 { f32::NAN } else { 0.0 });
    let e = load(&entries).unwrap_err();
    assert!(matches!(&e, Error::InvalidValue { name, index: 5, .. } if name == "features.0.0.weight"), "{e}");
    let mut entries = good_entries();
    entries[4] = f32_entry("features.0.1.running_var", &[2], |_| -1.0);
    let e = load(&entries).unwrap_err();
    assert!(matches!(&e, Error::InvalidValue { name, index: 0, .. } if name == "features.0.1.running_var"), "{e}");
}
