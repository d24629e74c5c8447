//! The int8 kernels (`mobilenet_kernels::int8`, run with run-time shapes by
//! `quantize::executor` over the model's own schedule, memory plan and parameter blob) against
//! the int8 reference interpreter: every materialised stage's levels and the logits, bit for
//! bit, on every int8 path this CPU runs (AMX, AVX-512 VNNI, AVX-VNNI, AVX2, portable), on 1 and 3
//! threads, for the
//! trained digits model, hand-picked random-weight specs that cover a fused and an unfused
//! stem, both paddings, residual blocks, expansion 1, odd and non-square sizes (channel counts
//! that are not multiples of 4 or 16), bands of one row and of several, and 64 drawn specs.

use mobilenet_compiler::init_weights::init_weights;
use mobilenet_compiler::quantize::calibrate::read_images;
use mobilenet_compiler::quantize::{executor, interpreter, pack::pack, quantize};
use mobilenet_compiler::{compile_file, compile_str, Program};
use mobilenet_kernels::{Cpu, Isa, Threads};
use std::path::Path;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Random images in about [-2.5, 2.5], a little wider than calibration saw (so levels saturate).
fn images(program: &Program, n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n * program.network.input.len())
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 5.0 - 2.5
        })
        .collect()
}

/// One `Cpu` per int8 kernel path this CPU runs (`Cpu::int8_kernels`).
fn int8_paths() -> Vec<Cpu> {
    let mut cpus: Vec<Cpu> = Vec::new();
    for isa in Isa::supported() {
        for (vnni, amx) in [(true, true), (true, false), (false, false)] {
            let cpu = Cpu::new(isa).unwrap().with_vnni(vnni).with_amx(amx);
            if cpus.iter().all(|c| c.int8_kernels() != cpu.int8_kernels()) {
                cpus.push(cpu);
            }
        }
    }
    cpus
}

fn check(name: &str, program: &Program, weights: &[u8], calibration: &[f32], n: usize, inputs: &[f32]) {
    let q = quantize(program, weights, calibration, n).unwrap();
    let packed = pack(&q);
    let mut pool = Threads::new(3);
    for (i, x) in inputs.chunks_exact(program.network.input.len()).enumerate() {
        let want = interpreter::run(&q, x).unwrap();
        let portable = Cpu::new(Isa::Portable).unwrap();
        let one = executor::run(program, &q, &packed, x, portable, None);
        for cpu in int8_paths() {
            let path = cpu.int8_kernels();
            let three = executor::run(program, &q, &packed, x, cpu, Some(&mut pool));
            assert_eq!(one, three, "{name}, image {i}: portable on 1 thread and {path} on 3 differ");
            assert_eq!(executor::run(program, &q, &packed, x, cpu, None), one, "{name}, image {i}: {path}");
        }
        assert!(!one.stages.is_empty());
        for (stage, levels) in &one.stages {
            let (_, _, wanted, _) = want.stages.iter().find(|s| &s.0 == stage).expect("the interpreter has the stage");
            let diff = levels.iter().zip(wanted).filter(|(a, b)| a != b).count();
            assert_eq!(diff, 0, "{name}, image {i}: {stage}: {diff} of {} levels differ", levels.len());
        }
        assert_eq!(
            one.logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{name}, image {i}: logits"
        );
    }
}

#[test]
fn digits_kernels_match_the_interpreter() {
    let compiled = compile_file(&repo("."), "models/digits/model.yaml").unwrap();
    let program = &compiled.program;
    let weights = std::fs::read(repo("models/digits/weights.safetensors")).unwrap();
    let cal = std::fs::read(repo("models/digits/calibration.safetensors")).unwrap();
    let (n, calibration) = read_images(&cal, &program.network).unwrap();
    assert_eq!(n, 200);
    // 20 calibration images are enough here (bit-exactness does not depend on the ranges), and
    // keep the test quick under emulation.
    let per = program.network.input.len();
    let inputs = [&calibration[..3 * per], &images(program, 2, 7)[..]].concat();
    check("digits", program, &weights, &calibration[..20 * per], 20, &inputs);
}

#[test]
fn random_specs_kernels_match_the_interpreter() {
    let specs = [
        // Stem fused into the first block; residual blocks; bands of several rows.
        "name: A\nresolution: 17\nwidth_mult: 0.5\nnum_classes: 5\ninverted_residual_setting: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2]]\n",
        // TF padding, non-square, expansion 1 after the first block.
        "name: B\nresolution: [19, 12]\nwidth_mult: 0.35\nnum_classes: 7\npadding: tf\nbn_eps: 0.001\ninverted_residual_setting: [[1, 8, 1, 1], [4, 16, 2, 1], [1, 16, 2, 1], [6, 24, 2, 2]]\n",
        // An expanding first block: the stem runs as its own step.
        "name: C\nresolution: [22, 15]\nwidth_mult: 0.25\nnum_classes: 3\ninverted_residual_setting: [[2, 8, 2, 1], [6, 16, 2, 2]]\n",
        // A larger map (bands narrower than the map, several per block; stem rows wider than
        // one batch of patches), TF padding at even sizes; classes in three tiles of 16.
        "name: D\nresolution: 64\nwidth_mult: 0.35\nnum_classes: 40\npadding: tf\ninverted_residual_setting: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2]]\n",
        // Odd channel counts (round_nearest 1): 1x1 inputs of k not a multiple of 4, outputs
        // not a multiple of 16.
        "name: E\nresolution: [13, 10]\nround_nearest: 1\ninput_channel: 7\nlast_channel: 37\nnum_classes: 4\ninverted_residual_setting: [[1, 5, 1, 1], [2.4, 11, 2, 2], [3, 19, 1, 1]]\n",
    ];
    for (k, text) in specs.iter().enumerate() {
        let program = compile_str("t.yaml", text).unwrap();
        let weights = init_weights(&program.network, 11 + k as u64);
        let calibration = images(&program, 8, 100 + k as u64);
        let inputs = images(&program, 2, 200 + k as u64);
        check(text.lines().next().unwrap(), &program, &weights, &calibration, 8, &inputs);
    }
}

/// Random specs beyond the hand-picked ones (seeded, so a failure replays): sizes 6-45 a side,
/// any width, 1-4 table rows of any expansion, channel count and stride, `round_nearest` down
/// to 1, either padding, stem and last channels and class counts drawn too.
#[test]
fn drawn_specs_kernels_match_the_interpreter() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    for case in 0..64 {
        let (h, w) = (6 + next(40), 6 + next(40));
        let width = [0.25, 0.35, 0.5, 0.75, 1.0][next(5) as usize];
        let padding = ["torch", "tf"][next(2) as usize];
        let rows: Vec<String> = (0..1 + next(4))
            .map(|_| {
                let t = [1.0, 2.0, 2.5, 3.0, 4.0, 6.0][next(6) as usize];
                format!("[{t}, {}, {}, {}]", 4 + next(60), 1 + next(3), 1 + next(2))
            })
            .collect();
        let text = format!(
            "name: R{case}\nresolution: [{h}, {w}]\nwidth_mult: {width}\nnum_classes: {}\npadding: {padding}\nround_nearest: {}\ninput_channel: {}\nlast_channel: {}\ninverted_residual_setting: [{}]\n",
            1 + next(50),
            [1, 2, 4, 8][next(4) as usize],
            4 + next(40),
            8 + next(100),
            rows.join(", ")
        );
        let program = compile_str("t.yaml", &text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let weights = init_weights(&program.network, next(1000));
        let calibration = images(&program, 4, next(1000));
        let inputs = images(&program, 1, next(1000));
        check(&text, &program, &weights, &calibration, 4, &inputs);
    }
}
