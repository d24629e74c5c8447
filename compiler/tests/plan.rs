//! The arena plan over many specs: valid (checked independently here) and within 5% of the
//! liveness lower bound of the op-by-op schedule.

mod common;

use mobilenet_compiler::compile_str;

fn specs() -> Vec<String> {
    let tables = [
        "",
        "inverted_residual_setting: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]\n",
        "inverted_residual_setting: [[2, 8, 3, 1], [4, 8, 2, 2], [1, 24, 1, 1], [3, 16, 2, 2]]\nround_nearest: 4\n",
        "inverted_residual_setting: [[6, 320, 1, 2]]\nlast_channel: 64\n",
    ];
    let mut out = Vec::new();
    for res in ["1", "2", "3", "7", "31", "57", "[33, 65]", "[96, 17]", "160", "224"] {
        for width in ["0.1", "0.35", "0.5", "0.75", "1.0", "1.4", "2.0"] {
            for table in tables {
                out.push(format!("name: N\nresolution: {res}\nwidth_mult: {width}\nnum_classes: 7\n{table}"));
            }
        }
    }
    out
}

#[test]
fn plans_are_valid_and_tight() {
    let mut worst: f64 = 1.0;
    for text in specs() {
        let program = compile_str("spec.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        worst = worst.max(common::check_program(&text, &program));
    }
    println!("worst arena / lower bound: {worst:.4}");
}
#[test]
fn v2_fused_plan_fits_in_2_5_mib() {
    let program = compile_str("v2.yaml", "name: V\nresolution: 224\n").unwrap();
    // Op by op, block 2's 112x112x96 expanded tensor and its 56x56x96 depthwise output are live
    // together; fused, only bottleneck tensors and band buffers are.
    assert_eq!(program.op_by_op_bound * 4, 6_021_120);
    assert!(program.arena.bytes() <= 2_621_440, "{}", program.arena.bytes());
    assert!(program.schedule.blocks().count() == 17);
}
