//! `forward`, `forward_parallel` (row and channel splits), `forward_batch` and `forward_in` (and an
//! int8 model's `forward` and `forward_parallel`) allocate nothing: a counting global allocator
//! watches them. No libtest harness (`harness = false`): its threads allocate too (a test
//! running past 60 s gets a warning, as this one does under emulation), so the process holds
//! only this test's threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

mobilenet_runtime::mobilenet!("../models/v2.yaml");
mobilenet_runtime::mobilenet!("../models/digits/int8.yaml");

/// An int8 model's `forward` and `forward_parallel` (3 threads) allocate nothing either.
fn int8_allocates_nothing() {
    let model = DigitsNetInt8::new();
    let mut arena = DigitsNetInt8::arena();
    let mut threads = mobilenet_runtime::Threads::new(3);
    let mut par = DigitsNetInt8::arena_for(&threads);
    let input = vec![0.25f32; 32 * 32 * 3];
    let mut logits = [0.0f32; 10];
    model.forward(&mut arena, &input, &mut logits).unwrap();
    model.forward_parallel(&mut threads, &mut par, &input, &mut logits).unwrap();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        model.forward(&mut arena, &input, &mut logits).unwrap();
        model.forward_parallel(&mut threads, &mut par, &input, &mut logits).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "int8 forward allocated {} times", after - before);
}

fn main() {
    let model = MobileNetV2::new();
    let mut arena = MobileNetV2::arena();
    let input = vec![0.5f32; 224 * 224 * 3];
    let mut logits = vec![0.0f32; 1000];
    model.forward(&mut arena, &input, &mut logits).unwrap(); // warm up (CPU detection etc.)

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        model.forward(&mut arena, &input, &mut logits).unwrap();
    }
    let after_forward = ALLOCATIONS.load(Ordering::SeqCst);
    let mut threads = mobilenet_runtime::Threads::new(2);
    let mut arena2 = MobileNetV2::arena_for(&threads);
    model.forward_parallel(&mut threads, &mut arena2, &input, &mut logits).unwrap();
    let before_parallel = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        model.forward_parallel(&mut threads, &mut arena2, &input, &mut logits).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after_forward - before, 0, "forward allocated {} times", after_forward - before);
    assert_eq!(after - before_parallel, 0, "forward_parallel allocated {} times", after - before_parallel);
    // 8 threads: the 7x7 blocks split by channels.
    let mut threads = mobilenet_runtime::Threads::new(8);
    let mut arena8 = MobileNetV2::arena_for(&threads);
    model.forward_parallel(&mut threads, &mut arena8, &input, &mut logits).unwrap();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    model.forward_parallel(&mut threads, &mut arena8, &input, &mut logits).unwrap();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "forward_parallel on 8 threads allocated {} times", after - before);
    let mut batch_arena = MobileNetV2::arena_batch(3);
    let (inputs, mut batch_logits) = (vec![0.5f32; 3 * 224 * 224 * 3], vec![0.0f32; 3000]);
    model.forward_batch(&mut batch_arena, &inputs, &mut batch_logits).unwrap();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    model.forward_batch(&mut batch_arena, &inputs, &mut batch_logits).unwrap();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "forward_batch allocated {} times", after - before);
    // A caller's buffer: the no_std entry point (the first call detects the CPU once).
    let mut buffer = vec![0u8; MobileNetV2::ARENA_BYTES];
    model.forward_in(&mut buffer, &input, &mut logits).unwrap();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    model.forward_in(&mut buffer, &input, &mut logits).unwrap();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "forward_in allocated {} times", after - before);
    // The debug hook may allocate (the fused plan never materialises the stem's output).
    let mut stages = 0;
    model.forward_inspect(&mut arena, &input, &mut logits, &mut |_, _, _| stages += 1).unwrap();
    assert_eq!(stages, 19);
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    // The counter works: an allocation is seen.
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > after);
    drop(v);
    int8_allocates_nothing();
    println!("no_alloc: forward, forward_parallel (2 and 8 threads), forward_batch and forward_in allocate nothing; so do an int8 model's forward and forward_parallel");
}
