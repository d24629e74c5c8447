//! MobileNetV2 0.35-96 (the repository's `models/v2_0.35_96_c10_memory.yaml`) on a Cortex-M4 with no
//! allocator: weights baked into flash by `mobilenet!`, the arena a `static` in RAM. Runs the
//! golden images, compares the logits with torchvision's (max |diff| <= 1e-4, same top-5),
//! reports the arena and the stack's high-water mark (the stack is painted before the first
//! image), and exits through semihosting with the verdict as the status.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use mobilenet_runtime::ArenaBuffer;

// The memory-minimal plan (`plan: memory`) of the repository's v2 0.35-96, same weights.
mobilenet_runtime::mobilenet!("../../models/v2_0.35_96_c10_memory.yaml");
type Model = MobileNetV2TinyMemory;

const TOLERANCE: f32 = 1e-4;
/// mps2-an386's core clock. Under `qemu -icount shift=0` one instruction takes 1 ns of virtual
/// time, so one SysTick tick is 40 instructions.
const INSTRUCTIONS_PER_TICK: u64 = 1_000_000_000 / 25_000_000;
const RELOAD: u32 = 0x00FF_FFFF;
static WRAPS: AtomicU32 = AtomicU32::new(0);
const PAINT: u32 = 0x5EED_F00D;

#[repr(C, align(4))]
struct Aligned<T: ?Sized>(T);

static INPUT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/input.bin")));
static EXPECTED: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/logits.bin")));
static mut ARENA: ArenaBuffer<{ Model::ARENA_BYTES }> = ArenaBuffer::new();

extern "C" {
    /// End of .bss and .data: where the stack may grow down to (cortex-m-rt).
    static mut __sheap: u32;
    /// The initial stack pointer, the top of RAM (cortex-m-rt).
    static _stack_start: u32;
}

fn floats(bytes: &'static Aligned<[u8]>) -> &'static [f32] {
    let b = &bytes.0;
    // SAFETY: 4-byte aligned (`Aligned`), length a whole number of f32s (checked by the
    // assertion below in `main`), and every bit pattern is an f32.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<f32>(), b.len() / 4) }
}

/// Indices of the 5 largest values, largest first (insertion into a sorted list of 5).
fn top5(v: &[f32]) -> [usize; 5] {
    let (mut top, mut n) = ([0usize; 5], 0);
    for (i, &x) in v.iter().enumerate() {
        if n == 5 && x <= v[top[4]] {
            continue;
        }
        n = (n + 1).min(5);
        let mut j = n - 1;
        while j > 0 && x > v[top[j - 1]] {
            top[j] = top[j - 1];
            j -= 1;
        }
        top[j] = i;
    }
    top
}

/// Fill the unused stack (from the end of static RAM to just below this frame) with `PAINT`.
#[inline(never)]
fn paint_stack() -> (usize, usize) {
    let sp = cortex_m::register::msp::read() as usize;
    let (bottom, top) = (addr_of_mut!(__sheap) as usize, core::ptr::addr_of!(_stack_start) as usize);
    let mut p = bottom;
    // Leave 256 bytes below the current stack pointer for this function's own frame.
    while p + 4 <= sp - 256 {
        // SAFETY: [bottom, sp - 256) is RAM between the statics and the live stack, unused.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    (bottom, top)
}

/// Bytes of stack used since `paint_stack`: from the top to the lowest overwritten word.
fn stack_high_water(bottom: usize, top: usize) -> usize {
    let mut p = bottom;
    // SAFETY: reads painted RAM below the live stack.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// SysTick ticks since it was started (it counts down from `RELOAD`, an interrupt per wrap).
fn ticks() -> u64 {
    loop {
        // Re-read on a wrap between the two loads.
        let (w, v) = (WRAPS.load(Ordering::Relaxed), SYST::get_current());
        if WRAPS.load(Ordering::Relaxed) == w {
            return w as u64 * (RELOAD as u64 + 1) + (RELOAD - v) as u64;
        }
    }
}

#[entry]
fn main() -> ! {
    let (bottom, top) = paint_stack();
    let mut syst = cortex_m::Peripherals::take().expect("first take").SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    let model = Model::new();
    // SAFETY: `main` runs once and is the only code that touches ARENA.
    let arena = unsafe { &mut *addr_of_mut!(ARENA) };
    let (input, expected) = (floats(INPUT), floats(EXPECTED));
    let image = Model::INPUT_HEIGHT * Model::INPUT_WIDTH * 3;
    let images = input.len() / image;
    let mut ok = images > 0 && expected.len() == images * Model::NUM_CLASSES && INPUT.0.len() % 4 == 0;
    for i in 0..images {
        let mut logits = [0.0f32; Model::NUM_CLASSES];
        let start = ticks();
        if let Err(e) = model.forward_in(arena, &input[i * image..(i + 1) * image], &mut logits) {
            hprintln!("image {}: error: {}", i, e);
            debug::exit(debug::EXIT_FAILURE);
        }
        let instructions = (ticks() - start) * INSTRUCTIONS_PER_TICK;
        hprintln!(
            "image {}: forward_in executed about {} instructions (meaningful under qemu -icount shift=0 only)",
            i,
            instructions
        );
        let want = &expected[i * Model::NUM_CLASSES..(i + 1) * Model::NUM_CLASSES];
        let diff = logits.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let same_top5 = top5(&logits) == top5(want);
        hprintln!("image {}: logits {:?}", i, logits);
        hprintln!(
            "image {}: max |diff| vs torchvision {:e}, top-5 {:?} ({})",
            i,
            diff,
            top5(&logits),
            if same_top5 { "same" } else { "DIFFERENT" }
        );
        ok &= diff <= TOLERANCE && same_top5;
    }
    hprintln!(
        "arena: {} bytes (ARENA_BYTES); stack high-water mark: {} bytes",
        Model::ARENA_BYTES,
        stack_high_water(bottom, top)
    );
    hprintln!("{}", if ok { "PASS" } else { "FAIL" });
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
