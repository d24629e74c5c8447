//! `import-keras` on the two Keras fixtures (stock MobileNetV2 0.5-128 with 10 classes; a 0.35-96
//! base nested in a transfer-learning model with 5 classes), from both file formats: the output
//! against the committed `models/keras/` files, tensor names, shapes and transposed values, and
//! the errors for files that are not (or not quite) a Keras MobileNetV2.
#![cfg(feature = "keras")]

use mobilenet_compiler::keras::{self, hdf5::H5};
use safetensors::{Dtype, SafeTensors};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (fixture folder, committed folder, type name).
const V2: (&str, &str, &str) = ("fixtures/keras_v2_0.5_128_c10", "models/keras/v2_0.5_128_c10", "KerasV2");
const FINETUNE: (&str, &str, &str) =
    ("fixtures/keras_finetune_0.35_96_c5", "models/keras/finetune_0.35_96_c5", "KerasFinetune");

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mobilenet-keras-import-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn f32s(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let v = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (t.shape().to_vec(), v)
}

#[test]
fn both_formats_give_the_committed_files() {
    for (fixture, committed, name) in [V2, FINETUNE] {
        let scratch = Scratch::new(name);
        let want_yaml = std::fs::read_to_string(repo().join(committed).join("model.yaml")).unwrap();
        let want_weights = std::fs::read(repo().join(committed).join("weights.safetensors")).unwrap();
        for file in ["model.keras", "model.h5"] {
            let out = scratch.0.join(file);
            keras::import(&repo().join(fixture).join(file), name, &out, None).unwrap_or_else(|e| panic!("{file}: {e}"));
            let yaml = std::fs::read_to_string(out.join("model.yaml")).unwrap();
            let weights = std::fs::read(out.join("weights.safetensors")).unwrap();
            assert!(weights == want_weights, "{fixture}/{file}: weights differ from {committed}");
            // The first line names the file imported; the committed spec came from model.keras.
            let (first, rest) = yaml.split_once('\n').unwrap();
            assert_eq!(first, format!("# Imported from {file} by `mobilenet-compiler import-keras`."));
            assert_eq!(rest, want_yaml.split_once('\n').unwrap().1, "{fixture}/{file}");
            if file == "model.keras" {
                assert_eq!(yaml, want_yaml, "{fixture}/{file}");
            }
        }
    }
}

#[test]
fn specs_say_width_padding_epsilon_and_classes() {
    let v2 = std::fs::read_to_string(repo().join(V2.1).join("model.yaml")).unwrap();
    for line in
        ["name: KerasV2", "resolution: 128", "width_mult: 0.5", "num_classes: 10", "padding: tf", "bn_eps: 0.001"]
    {
        assert!(v2.lines().any(|l| l == line), "{line} in\n{v2}");
    }
    assert!(!v2.contains("inverted_residual_setting") && !v2.contains("softmax"), "{v2}");
    let ft = std::fs::read_to_string(repo().join(FINETUNE.1).join("model.yaml")).unwrap();
    for line in ["name: KerasFinetune", "resolution: 96", "width_mult: 0.35", "num_classes: 5", "padding: tf"] {
        assert!(ft.lines().any(|l| l == line), "{line} in\n{ft}");
    }
    assert!(ft.contains("softmax"), "the spec says the softmax is left out:\n{ft}");
}

/// torchvision's tensors for a Keras MobileNetV2: Keras's channel rule worked by hand.
fn expected_tensors(alpha: f64, classes: usize) -> Vec<(String, Vec<usize>)> {
    let divisible = |v: f64| {
        let r = ((v + 4.0) as usize / 8 * 8).max(8);
        if (r as f64) < 0.9 * v {
            r + 8
        } else {
            r
        }
    };
    let table = [(1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1)];
    let mut out = Vec::new();
    let bn = |out: &mut Vec<(String, Vec<usize>)>, p: &str, c: usize| {
        for f in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("{p}.{f}"), vec![c]));
        }
    };
    let mut cin = divisible(32.0 * alpha);
    out.push(("features.0.0.weight".to_string(), vec![cin, 3, 3, 3]));
    bn(&mut out, "features.0.1", cin);
    let mut f = 1;
    for (t, c, n) in table {
        let cout = divisible((c as f64 * alpha).floor());
        for _ in 0..n {
            let p = format!("features.{f}.conv");
            let hidden = cin * t;
            let k = if t == 1 { 0 } else { 1 };
            if t != 1 {
                out.push((format!("{p}.0.0.weight"), vec![hidden, cin, 1, 1]));
                bn(&mut out, &format!("{p}.0.1"), hidden);
            }
            out.push((format!("{p}.{k}.0.weight"), vec![hidden, 1, 3, 3]));
            bn(&mut out, &format!("{p}.{k}.1"), hidden);
            out.push((format!("{p}.{}.weight", k + 1), vec![cout, hidden, 1, 1]));
            bn(&mut out, &format!("{p}.{}", k + 2), cout);
            cin = cout;
            f += 1;
        }
    }
    out.push((format!("features.{f}.0.weight"), vec![1280, cin, 1, 1]));
    bn(&mut out, &format!("features.{f}.1"), 1280);
    out.push(("classifier.1.weight".to_string(), vec![classes, 1280]));
    out.push(("classifier.1.bias".to_string(), vec![classes]));
    out.sort();
    out
}

#[test]
fn weights_hold_exactly_torchvisions_names_and_shapes() {
    for ((_, committed, _), alpha, classes) in [(V2, 0.5, 10), (FINETUNE, 0.35, 5)] {
        let bytes = std::fs::read(repo().join(committed).join("weights.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut got: Vec<(String, Vec<usize>)> =
            st.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
        got.sort();
        assert_eq!(got, expected_tensors(alpha, classes), "{committed}");
        assert!(st.tensors().iter().all(|(_, t)| t.dtype() == Dtype::F32));
    }
}

#[test]
fn values_are_transposed_into_torchvision_layouts() {
    let cases = [
        // Stock model: top-level layers, `model_weights/<layer>/<layer>/...`.
        (
            V2,
            "model_weights/Conv1/Conv1",
            "model_weights/block_3_depthwise/block_3_depthwise",
            "model_weights/predictions/predictions",
            "model_weights/block_16_project_BN/block_16_project_BN",
            16,
            96,
            10,
        ),
        // Nested base: `model_weights/<base model>/<layer>/...`; the outer Dense at the top.
        (
            FINETUNE,
            "model_weights/mobilenetv2_0.35_96/Conv1",
            "model_weights/mobilenetv2_0.35_96/block_3_depthwise",
            "model_weights/dense/dense",
            "model_weights/mobilenetv2_0.35_96/block_16_project_BN",
            16,
            48,
            5,
        ),
    ];
    for ((fixture, committed, _), conv1, dw, dense, bn, stem, hidden, classes) in cases {
        let h5 = H5::from_bytes(std::fs::read(repo().join(fixture).join("model.h5")).unwrap(), "model.h5").unwrap();
        let bytes = std::fs::read(repo().join(committed).join("weights.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();

        // Conv1 HWIO [3, 3, 3, stem] -> OIHW: keras[y][x][i][o] == torch[o][i][y][x].
        let k = h5.read_f32(&format!("{conv1}/kernel"), &[3, 3, 3, stem]).unwrap();
        let (shape, t) = f32s(&st, "features.0.0.weight");
        assert_eq!(shape, [stem, 3, 3, 3]);
        for (y, x, i, o) in [(1, 2, 0, 5), (0, 0, 2, stem - 1), (2, 1, 1, 3)] {
            assert_eq!(t[((o * 3 + i) * 3 + y) * 3 + x], k[((y * 3 + x) * 3 + i) * stem + o], "Conv1 {y} {x} {i} {o}");
        }

        // block_3 depthwise [3, 3, C, 1] -> [C, 1, 3, 3] (features.4: block 3 plus the stem).
        let k = h5.read_f32(&format!("{dw}/kernel"), &[3, 3, hidden, 1]).unwrap();
        let (shape, t) = f32s(&st, "features.4.conv.1.0.weight");
        assert_eq!(shape, [hidden, 1, 3, 3]);
        for (y, x, c) in [(2, 0, 37), (1, 1, 0), (0, 2, hidden - 1)] {
            assert_eq!(t[(c * 3 + y) * 3 + x], k[(y * 3 + x) * hidden + c], "depthwise {y} {x} {c}");
        }

        // Dense [1280, classes] -> Linear [classes, 1280].
        let k = h5.read_f32(&format!("{dense}/kernel"), &[1280, classes]).unwrap();
        let (shape, t) = f32s(&st, "classifier.1.weight");
        assert_eq!(shape, [classes, 1280]);
        for (i, o) in [(1000, classes - 1), (0, 0), (640, 2)] {
            assert_eq!(t[o * 1280 + i], k[i * classes + o], "Dense {i} {o}");
        }
        assert_eq!(f32s(&st, "classifier.1.bias").1, h5.read_f32(&format!("{dense}/bias"), &[classes]).unwrap());

        // BatchNorm: gamma, beta, moving mean and variance keep their order.
        let c = f32s(&st, "features.17.conv.3.weight").0[0];
        for (keras, torch) in
            [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")]
        {
            let want = h5.read_f32(&format!("{bn}/{keras}"), &[c]).unwrap();
            assert_eq!(f32s(&st, &format!("features.17.conv.3.{torch}")).1, want, "{keras}");
        }
    }
}

// ---- errors ----

fn import_err(path: &Path) -> String {
    let out = path.with_extension("out");
    let e = keras::import(path, "M", &out, None).expect_err("a bad model must be an error");
    assert!(!out.join("model.yaml").exists() && !out.join("weights.safetensors").exists(), "{e}: files left behind");
    e.to_string()
}

/// The members of the v2 fixture's `.keras` zip.
fn members(fixture: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(repo().join(fixture).join("model.keras")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names
        .into_iter()
        .map(|n| {
            let mut data = Vec::new();
            zip.by_name(&n).unwrap().read_to_end(&mut data).unwrap();
            (n, data)
        })
        .collect()
}

fn write_zip(path: &Path, members: &[(String, Vec<u8>)], method: zip::CompressionMethod) {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        zip.start_file(name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
        zip.write_all(data).unwrap();
    }
    std::fs::write(path, zip.finish().unwrap().into_inner()).unwrap();
}

/// The v2 fixture as a `.keras` file whose config.json went through `edit`.
fn edited(scratch: &Scratch, tag: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut members = members(V2.0);
    for (name, data) in &mut members {
        if name == "config.json" {
            let mut config: serde_json::Value = serde_json::from_slice(data).unwrap();
            edit(&mut config);
            *data = serde_json::to_vec(&config).unwrap();
        }
    }
    let path = scratch.0.join(format!("{tag}.keras"));
    write_zip(&path, &members, zip::CompressionMethod::Stored);
    path
}

fn layers(config: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    config["config"]["layers"].as_array_mut().unwrap()
}

fn layer<'a>(config: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    layers(config).iter_mut().find(|l| l["name"] == name).unwrap()
}

#[test]
fn files_that_are_not_keras_models_are_errors() {
    let scratch = Scratch::new("not-models");
    let path = scratch.0.join("notes.h5");
    std::fs::write(&path, "not a model").unwrap();
    let e = import_err(&path);
    assert!(e.contains("neither a Keras 3 `.keras` file"), "{e}");

    let mut fake = b"\x89HDF\r\n\x1a\n".to_vec();
    fake.extend([0xffu8; 200]);
    std::fs::write(&path, fake).unwrap();
    let e = import_err(&path);
    assert!(e.contains("not a readable HDF5 file"), "{e}");

    for file in ["model.h5", "model.keras"] {
        let bytes = std::fs::read(repo().join(V2.0).join(file)).unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 1000, 100] {
            let path = scratch.0.join(format!("cut{cut}-{file}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let e = import_err(&path);
            assert!(e.contains("damaged or truncated") || e.contains("neither"), "{file} cut at {cut}: {e}");
        }
    }

    let path = scratch.0.join("no-weights.keras");
    let only_config: Vec<_> = members(V2.0).into_iter().filter(|(n, _)| n != "model.weights.h5").collect();
    write_zip(&path, &only_config, zip::CompressionMethod::Stored);
    let e = import_err(&path);
    assert!(e.contains("has no `model.weights.h5`"), "{e}");

    // Config of one model, weights of another.
    let path = scratch.0.join("mixed.keras");
    let mut mixed = members(V2.0);
    let other = members(FINETUNE.0).into_iter().find(|(n, _)| n == "model.weights.h5").unwrap();
    mixed.iter_mut().find(|(n, _)| n == "model.weights.h5").unwrap().1 = other.1;
    write_zip(&path, &mixed, zip::CompressionMethod::Stored);
    let e = import_err(&path);
    assert!(e.contains("layer `Conv1`") && e.contains("do not belong together"), "{e}");
}

#[test]
fn a_deflated_keras_zip_imports_the_same() {
    let scratch = Scratch::new("deflated");
    let path = scratch.0.join("model.keras");
    write_zip(&path, &members(V2.0), zip::CompressionMethod::Deflated);
    let imported = keras::convert(&path, "KerasV2", None).unwrap();
    assert!(imported.weights == std::fs::read(repo().join(V2.1).join("weights.safetensors")).unwrap());
}

#[test]
fn a_model_that_is_not_mobilenet_v2_is_refused_at_the_first_misfit() {
    let scratch = Scratch::new("misfits");
    let check = |tag: &str, edit: &dyn Fn(&mut serde_json::Value), want: &[&str]| {
        let e = import_err(&edited(&scratch, tag, edit));
        for w in want {
            assert!(e.contains(w), "{tag}: `{w}` not in: {e}");
        }
    };
    // Renamed (everywhere, as Keras would save it).
    let renamed = scratch.0.join("renamed.keras");
    let mut m = members(V2.0);
    for (name, data) in &mut m {
        if name == "config.json" {
            let text = String::from_utf8(data.clone()).unwrap().replace("\"block_5_expand\"", "\"block_5_widen\"");
            *data = text.into_bytes();
        }
    }
    write_zip(&renamed, &m, zip::CompressionMethod::Stored);
    let e = import_err(&renamed);
    assert!(e.contains("layer `block_5_widen`") && e.contains("expected `block_5_expand`"), "{e}");

    // A config whose channels disagree with the weights: the kernel shape is wrong.
    check(
        "filters",
        &|c| layer(c, "block_1_expand")["config"]["filters"] = 40.into(),
        &["layer `block_1_expand`: its kernel has shape [1, 1, 8, 48]", "makes it [1, 1, 8, 40]"],
    );
    check(
        "kernel",
        &|c| layer(c, "block_4_depthwise")["config"]["kernel_size"] = serde_json::json!([5, 5]),
        &["layer `block_4_depthwise`", "kernel_size"],
    );
    check(
        "type",
        &|c| layer(c, "block_3_expand_relu")["class_name"] = "LeakyReLU".into(),
        &["layer `block_3_expand_relu` (LeakyReLU", "expected `block_3_expand_relu` (ReLU"],
    );
    check(
        "stride",
        &|c| layer(c, "block_2_depthwise")["config"]["strides"] = serde_json::json!([2, 2]),
        &["layer `block_2_add`", "stride 2", "no residual"],
    );
    check(
        "eps",
        &|c| layer(c, "block_9_project_BN")["config"]["epsilon"] = 1e-5.into(),
        &["layer `block_9_project_BN`", "epsilon"],
    );
    check(
        "padding",
        &|c| layer(c, "block_6_pad")["config"]["padding"] = serde_json::json!([[1, 1], [1, 1]]),
        &["layer `block_6_pad`", "pads [1, 1, 1, 1]", "is [0, 1, 0, 1]"],
    );
    // Missing: without block_7_add, block_8_expand arrives where the residual belongs.
    check(
        "missing",
        &|c| layers(c).retain(|l| l["name"] != "block_7_add"),
        &["layer `block_8_expand`", "expected `block_7_add`"],
    );
    // Extra: a Dropout after Conv1_relu.
    check(
        "extra",
        &|c| {
            let mut extra = layer(c, "Conv1_relu").clone();
            extra["class_name"] = "Dropout".into();
            extra["name"] = "surprise".into();
            extra["config"] = serde_json::json!({"name": "surprise", "rate": 0.1});
            let at = layers(c).iter().position(|l| l["name"] == "expanded_conv_depthwise").unwrap();
            layers(c).insert(at, extra);
        },
        &["layer `surprise` (Dropout", "expected `expanded_conv_depthwise`"],
    );
    // No classifier (include_top=False).
    check(
        "headless",
        &|c| {
            layers(c).retain(|l| l["name"] != "predictions" && l["name"] != "global_average_pooling2d");
            c["config"]["output_layers"] = serde_json::json!([["out_relu", 0, 0]]);
        },
        &["without a classifier"],
    );
    // A fixed input size is needed, from the model or from --resolution.
    check(
        "input",
        &|c| layer(c, "input_layer")["config"]["batch_shape"] = serde_json::json!([null, null, null, 3]),
        &["not fixed", "--resolution"],
    );
}

/// A model saved without a fixed input size imports at the size `--resolution` gives, as long
/// as its explicit paddings are TF "SAME" there (Keras pads stride-2 layers of such models
/// bottom/right only, which is "SAME" on even sides only); a fixed size must not be overridden.
#[test]
fn resolution_sizes_a_model_saved_without_one() {
    let scratch = Scratch::new("resolution");
    let open = edited(&scratch, "open", |c: &mut serde_json::Value| {
        layer(c, "input_layer")["config"]["batch_shape"] = serde_json::json!([null, null, null, 3])
    });
    let fixed = keras::convert(&repo().join(V2.0).join("model.keras"), "KerasV2", None).unwrap();
    let sized = keras::convert(&open, "KerasV2", Some((128, 128))).unwrap();
    assert_eq!(sized.weights, fixed.weights);
    assert_eq!(sized.yaml.lines().skip(1).collect::<Vec<_>>(), fixed.yaml.lines().skip(1).collect::<Vec<_>>());
    let larger = keras::convert(&open, "KerasV2", Some((160, 96))).unwrap();
    assert!(larger.yaml.contains("resolution: [160, 96]\n"), "{}", larger.yaml);
    // 127 -> 64 after the stem (which pads "SAME" itself): every padded layer sees an even side.
    assert!(keras::convert(&open, "KerasV2", Some((127, 127))).is_ok());
    // 100 -> 50 -> 25: block_3's explicit bottom/right pad is not "SAME" on an odd side.
    let err = |r| match keras::convert(&open, "KerasV2", Some(r)) {
        Ok(_) => panic!("{r:?} must not import"),
        Err(e) => e.to_string(),
    };
    let e = err((100, 100));
    assert!(e.contains("layer `block_3_pad`") && e.contains("pads"), "{e}");
    let e = match keras::convert(&repo().join(V2.0).join("model.keras"), "KerasV2", Some((96, 96))) {
        Ok(_) => panic!("a fixed size must not be overridden"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("fixes the input at 128x128"), "{e}");
}

#[test]
fn damaged_files_are_errors_or_imports_never_panics() {
    let scratch = Scratch::new("damaged");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for file in ["model.h5", "model.keras"] {
        let original = std::fs::read(repo().join(V2.0).join(file)).unwrap();
        for trial in 0..40 {
            let mut bytes = original.clone();
            if trial % 4 == 0 {
                bytes.truncate(next() as usize % bytes.len());
            } else {
                // Flip bits, mostly in the first 64 KiB where the file's structure lives.
                let span = if trial % 4 == 3 { bytes.len() } else { bytes.len().min(1 << 16) };
                for _ in 0..1 + next() % 8 {
                    let at = next() as usize % span;
                    bytes[at] ^= 1 << (next() % 8);
                }
            }
            let path = scratch.0.join(format!("{trial}-{file}"));
            std::fs::write(&path, &bytes).unwrap();
            // Damage to tensor data can import (as other numbers); anything else is an error.
            let result = std::panic::catch_unwind(|| keras::convert(&path, "M", None).map(|_| ()));
            assert!(result.is_ok(), "{file}, trial {trial}: the importer panicked");
        }
    }
}
