//! Generated code is hygienic: in a module without the prelude (`#![no_implicit_prelude]`) it
//! names everything by absolute paths; a user's own methods and constants named like a
//! model's internals (`run`, `MODEL_ID`, ...) do not collide with them; and lowercase
//! constants, statics and unit structs named like the generated parameters and locals do not
//! turn those into constant patterns (a compile error, or a `let` that no longer binds). The
//! models here are second copies of two in `models`, so their results must be the same bits.

mod bare {
    #![no_implicit_prelude]
    #![allow(non_upper_case_globals, non_camel_case_types, dead_code)]

    // Names the generated methods and their bodies bind (parameters, locals, closure arguments).
    const arena: usize = 0;
    const input: usize = 0;
    const input_hwc: usize = 0;
    const inputs_hwc: usize = 0;
    const logits: usize = 0;
    const pixels: usize = 0;
    const images: usize = 0;
    const bytes: usize = 0;
    const threads: usize = 0;
    const a: usize = 0;
    const p: usize = 0;
    const src: usize = 0;
    const dst: usize = 0;
    const scratch: usize = 0;
    const extra: usize = 0;
    const params: usize = 0;
    const image: usize = 0;
    const count: usize = 0;
    const all: usize = 0;
    const cpu: usize = 0;
    const i: usize = 0;
    const f: usize = 0;
    const t: usize = 0;
    static inspect: usize = 0;
    static stem_out: usize = 0;
    struct res;
    struct w;
    struct b;

    ::mobilenet_runtime::mobilenet!("specs/tf_rgb8.yaml");
    ::mobilenet_runtime::mobilenet!("specs/tf_rgb8_int8.yaml");

    impl TfRgb8Int8 {
        pub fn run(&self) -> u8 {
            7
        }
        pub const MODEL_ID: u64 = 1;
        pub const ARENA_FLOATS: usize = 2;
        pub const LAYERS: usize = 3;
    }
}

use mobilenet_e2e::random_weights;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn generated_code_needs_no_prelude_and_leaves_user_names_alone() {
    let model = bare::TfRgb8Int8::new();
    assert_eq!((model.run(), bare::TfRgb8Int8::MODEL_ID, bare::TfRgb8Int8::ARENA_FLOATS), (7, 1, 2));
    assert_eq!(bare::TfRgb8Int8::LAYERS, 3);
    let len = bare::TfRgb8Int8::INPUT_HEIGHT * bare::TfRgb8Int8::INPUT_WIDTH * 3;
    let x: Vec<f32> = (0..2 * len).map(|i| ((i * 37) % 200) as f32 / 100.0 - 1.0).collect();
    let mut got = vec![0.0f32; 2 * bare::TfRgb8Int8::NUM_CLASSES];
    model.forward_batch(&mut bare::TfRgb8Int8::arena_batch(2), &x, &mut got).unwrap();
    let mut want = vec![0.0f32; 2 * bare::TfRgb8Int8::NUM_CLASSES];
    let twin = crate::models::TfRgb8Int8::new();
    twin.forward_batch(&mut crate::models::TfRgb8Int8::arena_batch(2), &x, &mut want).unwrap();
    assert_eq!(bits(&got), bits(&want));

    let weights = random_weights("specs/tf_rgb8.yaml", 3);
    let model = bare::TfRgb8::from_safetensors(&weights).unwrap();
    let twin = crate::models::TfRgb8::from_safetensors(&weights).unwrap();
    let px: Vec<u8> =
        (0..bare::TfRgb8::INPUT_HEIGHT * bare::TfRgb8::INPUT_WIDTH * 3).map(|i| (i * 31 % 256) as u8).collect();
    let (mut got, mut want) = ([0.0f32; bare::TfRgb8::NUM_CLASSES], [0.0f32; bare::TfRgb8::NUM_CLASSES]);
    model.forward_rgb8(&mut bare::TfRgb8::arena(), &px, &mut got).unwrap();
    twin.forward_rgb8(&mut crate::models::TfRgb8::arena(), &px, &mut want).unwrap();
    assert_eq!(bits(&got), bits(&want));
    assert_eq!(bare::TfRgb8::LABELS, crate::models::TfRgb8::LABELS);
}
