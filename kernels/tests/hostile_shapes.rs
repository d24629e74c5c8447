//! The safe entry points under shapes no model has (zero sizes, products that overflow
//! `usize`, strides that are not 1 or 2, absurd chain chunks and scratch strides): each one
//! panics with an internal error before any kernel runs, or computes the right result; none
//! reads or writes outside its slices. Before these checks, a release build let several of
//! them wrap a length check and run past an empty slice.

use mobilenet_kernels::dispatch::{depthwise_dyn, linear_dyn, pointwise_dyn, stem_dyn};
use mobilenet_kernels::int8::{pointwise8_dyn, QConv};
use mobilenet_kernels::{
    fused_block_dyn, linear_batch, par_block_dyn, par_chain_dyn, BlockDims, BlockParams, Cpu, Padding, Threads,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Every ISA this CPU runs.
fn cpus() -> Vec<Cpu> {
    mobilenet_kernels::Isa::supported().into_iter().map(|isa| Cpu::new(isa).unwrap()).collect()
}

/// What `f` did, if not panic with an internal error (a kernel's out-of-bounds access would be
/// UB, not a panic).
fn refused(what: &str, f: impl FnOnce()) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => Some(format!("{what}: ran")),
        Err(e) => {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            let msg = msg.unwrap_or_default();
            (!msg.contains("internal error")).then(|| format!("{what}: {msg}"))
        }
    }
}

/// Runs `cases` with the panic hook silenced (the panics are expected), then reports every
/// case that did not panic as it should.
fn all_refused(cases: impl FnOnce(&mut Vec<Option<String>>)) {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut results = Vec::new();
    cases(&mut results);
    std::panic::set_hook(prev);
    let failures: Vec<String> = results.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

fn block(h: usize, w: usize, cin: usize, hidden: usize, cout: usize) -> BlockDims {
    BlockDims {
        h,
        w,
        cin,
        hidden,
        cout,
        stride: 1,
        expand: hidden != cin,
        residual: false,
        band: 1,
        stem: None,
        padding: Padding::Torch,
    }
}

#[test]
fn hostile_shapes_are_refused() {
    all_refused(zero_sizes_and_bad_strides);
    all_refused(overflowing_products);
}

fn zero_sizes_and_bad_strides(r: &mut Vec<Option<String>>) {
    for cpu in cpus() {
        r.push(refused("linear with no outputs", || linear_dyn(cpu, 0, 0, &[], &[], &[], &mut [])));
        r.push(refused("1x1 with no outputs", || {
            pointwise_dyn(cpu, 4, 4, 0, false, &[0.0; 16], &[], &[], None, &mut [])
        }));
        r.push(refused("stem of an empty image", || {
            stem_dyn(cpu, 0, 0, 4, Padding::Torch, &[], &[0.0; 108], &[0.0; 4], &mut [])
        }));
        let (x, w, b) = ([0.0; 75], [0.0; 27], [0.0; 3]);
        r.push(refused("depthwise at stride 3", || {
            depthwise_dyn(cpu, 5, 5, 3, 3, Padding::Torch, &x, &w, &b, &mut [0.0; 75])
        }));
        r.push(refused("depthwise of an empty map", || {
            depthwise_dyn(cpu, 0, 0, 3, 2, Padding::Torch, &[], &w, &b, &mut [])
        }));
        let bad = [
            block(1, 1, 1, 1, 0),
            block(1, 1, 1, 0, 4),
            block(0, 0, 4, 4, 4),
            BlockDims { band: 0, ..block(2, 2, 1, 1, 1) },
        ];
        for d in bad {
            let p = BlockParams { stem: None, expand: None, depthwise: (&[0.0; 64], &[0.0; 64]), project: (&[], &[]) };
            r.push(refused(&format!("{d:?}"), || {
                fused_block_dyn(cpu, &d, &[0.0; 64], &mut [0.0; 64], p, &mut [0.0; 64], 0..1)
            }));
        }
    }
}

fn overflowing_products(r: &mut Vec<Option<String>>) {
    let (w, b) = (vec![0.0f32; 64], vec![0.0f32; 64]);
    for cpu in cpus() {
        r.push(refused("1x1 over 2^62 pixels", || {
            pointwise_dyn(cpu, 1 << 62, 4, 4, false, &[], &w, &b, None, &mut [])
        }));
        r.push(refused("a batch of 2^62 images", || {
            linear_batch::<1, 4>(cpu, &[0.0], 0, 0, (1 << 62) + 1, &w, &b, &mut [0.0; 4])
        }));
        // A per-thread scratch stride whose multiple wraps to 0 (a block split by rows: 8 a
        // thread).
        let d = BlockDims { band: 2, ..block(24, 2, 1, 1, 1) };
        let p = BlockParams { stem: None, expand: None, depthwise: (&w, &b), project: (&w, &b) };
        let mut threads = Threads::new(3);
        r.push(refused("scratch stride 2^63", || {
            let (mut y, mut s) = (vec![0.0; 48], vec![0.0; d.scratch_len()]);
            par_block_dyn(Some(&mut threads), cpu, &d, &[0.0; 48], &mut y, p, &mut s, &mut [], 1 << 63)
        }));
        let q = QConv {
            weight: &[0; 64],
            bias: &[0; 16],
            m: &[0; 16],
            shift: &[31; 16],
            input_zero: 0,
            output_zero: 0,
            clamp: (0, 255),
        };
        let mut threads = Threads::new(2);
        r.push(refused("int8 1x1 over 2^62 pixels", || {
            pointwise8_dyn(Some(&mut threads), cpu, 1 << 62, 4, 4, &[], q, None, &mut [])
        }));
    }
}

/// A chain chunk far beyond the map (whose window size used to wrap to a row or none) runs as
/// one chunk of the whole map: the same result as a chunk of exactly the map's height.
#[test]
fn absurd_chain_chunks_mean_the_whole_map() {
    let (a, b) = (block(6, 5, 4, 8, 4), block(6, 5, 4, 8, 4));
    let data =
        |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 7 + seed * 13) % 11) as f32 / 8.0 - 0.6).collect() };
    let (ew, eb, dw, db, pw, pb) =
        (data(4 * 16, 1), data(16, 2), data(9 * 8, 3), data(8, 4), data(8 * 16, 5), data(16, 6));
    let p = BlockParams { stem: None, expand: Some((&ew, &eb)), depthwise: (&dw, &db), project: (&pw, &pb) };
    let x = data(6 * 5 * 4, 7);
    for cpu in cpus() {
        let run = |chunk: usize| {
            let scratch_len = mobilenet_kernels::chain::chain_scratch_len(&a, &b, 6);
            let (mut y, mut s) = (vec![f32::NAN; 6 * 5 * 4], vec![f32::NAN; scratch_len]);
            par_chain_dyn(None, cpu, &a, &b, chunk, &x, &mut y, p, p, &mut s, &mut [], 0);
            y
        };
        let want = run(6);
        for chunk in [usize::MAX, usize::MAX - 1, 1 << 63] {
            assert_eq!(run(chunk), want, "chunk {chunk}");
        }
    }
}
