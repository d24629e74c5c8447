//! Spec parsing: defaults reproduce torchvision, `plan` takes its two values, and errors found
//! after parsing are located; `precision: int8` needs `weights` and `calibration`.

use mobilenet_compiler::spec::{parse, Plan, Precision, DEFAULT_TABLE};
use mobilenet_compiler::{compile_str, SourceFile};

fn src(text: &str) -> SourceFile {
    SourceFile { display: "m.yaml".into(), text: text.into() }
}

#[test]
fn defaults_are_torchvision_defaults() {
    let s = parse(&src("name: M\nresolution: 224\n")).unwrap();
    assert_eq!((s.height, s.width), (224, 224));
    assert_eq!(s.width_mult, 1.0);
    assert_eq!(s.round_nearest, 8);
    assert_eq!(s.num_classes, 1000);
    assert_eq!((s.input_channel, s.last_channel), (32, 1280));
    assert_eq!(s.table, DEFAULT_TABLE.to_vec());
    assert_eq!(s.weights, None);
}

#[test]
fn resolution_can_be_height_and_width() {
    let s = parse(&src("name: M\nresolution: [120, 64]\n")).unwrap();
    assert_eq!((s.height, s.width), (120, 64));
    let p = compile_str("m.yaml", "name: M\nresolution: [120, 64]\n").unwrap();
    assert_eq!((p.network.input.h, p.network.input.w), (120, 64));
}

#[test]
fn custom_table_scales_stem_and_last_channel_too() {
    // torchvision's sample code forgets input_channel/last_channel with a custom table.
    let p = compile_str(
        "m.yaml",
        "name: M\nresolution: 32\nwidth_mult: 1.4\ninverted_residual_setting: [[1, 16, 1, 1], [6, 24, 2, 2]]\n",
    )
    .unwrap();
    let layers = &p.network.layers;
    assert_eq!(layers[0].output_shape.c, 48); // make_divisible(32 * 1.4, 8)
    let last = &layers[layers.len() - 3];
    assert_eq!(last.output_shape.c, 1792); // make_divisible(1280 * 1.4, 8)
}

#[test]
fn expansion_one_point_zero_has_no_expand_conv() {
    let p = compile_str("m.yaml", "name: M\nresolution: 8\ninverted_residual_setting: [[1.0, 16, 1, 1]]\n").unwrap();
    assert_eq!(p.network.layers[1].conv.as_deref(), Some("features.1.conv.0.0"));
    assert_eq!(p.network.layers[2].bn.as_deref(), Some("features.1.conv.2"));
}

#[test]
fn errors_after_parsing_point_at_the_row() {
    let text = "name: M\nresolution: 8\ninverted_residual_setting:\n  - [1, 16, 1, 1]\n  - [0.01, 16, 1, 1]\n";
    let e = compile_str("m.yaml", text).unwrap_err();
    assert_eq!(e.location.as_ref().map(|l| (l.line, l.column)), Some((5, 5)), "{e}");
    assert!(e.to_string().starts_with("m.yaml:5:5: inverted_residual_setting[1]: expansion t = 0.01"), "{e}");
}

#[test]
fn typo_gets_a_suggestion() {
    let e = compile_str("m.yaml", "name: M\nresolution: 8\nnum_clases: 3\n").unwrap_err();
    assert!(e.to_string().starts_with("m.yaml:3:1: unknown key `num_clases`: did you mean `num_classes`?"), "{e}");
}

#[test]
fn huge_networks_are_refused_not_overflowed() {
    let e = compile_str("m.yaml", "name: M\nresolution: 8192\nwidth_mult: 1000\n").unwrap_err();
    assert!(e.to_string().contains("channels"), "{e}");
}

/// An 8-bit input's normalisation becomes f32 constants `1 / (255 * std)` and `-mean / std`:
/// a std too small for them to be finite is a located error, the smallest allowed compiles.
#[test]
fn tiny_input_std_is_refused() {
    let spec = |std: &str| {
        format!("name: M\nresolution: 8\ninput: {{format: rgb8, mean: [1000, 0, 0], std: [{std}, 0.5, 0.5]}}\n")
    };
    let e = compile_str("m.yaml", &spec("1e-42")).unwrap_err();
    assert!(e.to_string().starts_with("m.yaml:3:"), "{e}");
    assert!(e.to_string().contains("input.std[0]: a standard deviation must be at least 1e-6"), "{e}");
    let program = compile_str("m.yaml", &spec("1e-6")).unwrap();
    let tokens = mobilenet_compiler::codegen::generate(
        &program,
        None,
        None,
        &Default::default(),
        mobilenet_compiler::codegen::Target::STD,
    );
    assert!(!tokens.is_empty());
}

#[test]
fn absurdly_deep_tables_are_refused() {
    let rows: String = (0..10).map(|_| "  - [1, 16, 100, 1]\n").collect();
    let e = compile_str("m.yaml", &format!("name: M\nresolution: 8\ninverted_residual_setting:\n{rows}")).unwrap_err();
    assert!(e.to_string().contains("1000 blocks"), "{e}");
}

#[test]
fn plan_is_speed_or_memory_and_defaults_to_speed() {
    assert_eq!(parse(&src("name: M\nresolution: 8\n")).unwrap().plan, Plan::Speed);
    assert_eq!(parse(&src("name: M\nresolution: 8\nplan: speed\n")).unwrap().plan, Plan::Speed);
    assert_eq!(parse(&src("name: M\nresolution: 8\nplan: memory\n")).unwrap().plan, Plan::Memory);
    assert_eq!((Plan::Speed.name(), Plan::Memory.name()), ("speed", "memory"));
}

#[test]
fn bad_plan_is_located_and_names_the_values() {
    let e = parse(&src("name: M\nresolution: 8\nplan: small\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "m.yaml:3:7: plan: must be `speed` (the default: row bands sized for fast GEMMs) or `memory` (the smallest arena: blocks chained and bands narrowed where they set the peak), found \"small\""
    );
    let e = parse(&src("name: M\nresolution: 8\nplan: [memory]\n")).unwrap_err();
    assert!(e.to_string().starts_with("m.yaml:3:7: plan: invalid type: sequence, expected `speed` or `memory`"), "{e}");
    let e = parse(&src("name: M\nresolution: 8\nplna: memory\n")).unwrap_err();
    assert!(e.to_string().starts_with("m.yaml:3:1: unknown key `plna`: did you mean `plan`?"), "{e}");
}

#[test]
fn precision_is_f32_or_int8_with_weights_and_calibration() {
    let base = "name: M\nresolution: 8\n";
    assert_eq!(parse(&src(base)).unwrap().precision, Precision::F32);
    let int8 = format!("{base}weights: w.safetensors\nprecision: int8\ncalibration: c.safetensors\n");
    let spec = parse(&src(&int8)).unwrap();
    assert_eq!((spec.precision, spec.calibration.as_deref()), (Precision::Int8, Some("c.safetensors")));
    assert_eq!((Precision::F32.name(), Precision::Int8.name()), ("f32", "int8"));
    let err = |text: String| parse(&src(&text)).unwrap_err().to_string();
    let e = err(format!("{base}precision: int4\n"));
    assert!(e.starts_with("m.yaml:3:12: precision: must be `f32` (the default) or `int8`"), "{e}");
    let e = err(format!("{base}weights: w.safetensors\nprecision: int8\n"));
    assert!(e.starts_with("m.yaml:4:12: `precision: int8` needs calibration images"), "{e}");
    let e = err(format!("{base}precision: int8\ncalibration: c.safetensors\n"));
    assert!(e.starts_with("m.yaml:3:12: `precision: int8` quantizes the spec's weights"), "{e}");
    let e = err(format!("{base}calibration: c.safetensors\n"));
    assert!(e.starts_with("m.yaml:3:14: `calibration` is only read for `precision: int8`"), "{e}");
    let e = err(format!("{int8}plan: memory\n"));
    assert!(e.starts_with("m.yaml:6:7: int8 models have no `plan: memory` schedule"), "{e}");
    let e = err(format!("{base}precison: int8\n"));
    assert!(e.starts_with("m.yaml:3:1: unknown key `precison`: did you mean `precision`?"), "{e}");
}
