//! Spec parsing: defaults reproduce torchvision, `plan` takes its two values, and errors found
//! after parsing are located.

use mobilenet_compiler::spec::{parse, Plan, DEFAULT_TABLE};
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
