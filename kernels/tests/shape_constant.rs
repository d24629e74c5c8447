//! The shape-constant kernels (instantiated on shape types and const generics, as generated code
//! does) against the run-time-shaped ones, which `kernels_prop.rs` (f32) and the compiler's
//! `int8_kernels` test (int8) check against the references: the same bits, on every ISA (and
//! every int8 path), on 1, 2, 3 and 7 threads, over a set of awkward shapes (odd sizes, both
//! strides, with and without expansion, shortcut and fused stem, bands shorter than the map,
//! channel counts that are not multiples of the vector width, both paddings).

use mobilenet_kernels::int8::{
    self, block8_dyn, par_block8, par_pointwise8, pointwise8_dyn, BlockInput, Image, QBlockParams, QConv, QShortcut,
};
use mobilenet_kernels::layout::round_up_nr;
use mobilenet_kernels::reference::conv3x3_out;
use mobilenet_kernels::{
    avg_pool, dispatch, par_block, par_block_dyn, par_linear, par_pointwise, par_stem, BlockDims, BlockParams,
    BlockShape, Cpu, Padding, Threads,
};

mod common;
use common::{cpus, data};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

macro_rules! shapes {
    ($($name:ident: $dims:expr;)*) => {
        $(
            enum $name {}
            impl BlockShape for $name {
                const DIMS: BlockDims = $dims;
            }
        )*
        #[test]
        fn blocks_equal_the_run_time_shaped_kernels() {
            $(check_block::<$name>(stringify!($name));)*
        }

        #[test]
        fn int8_blocks_equal_the_run_time_shaped_kernels() {
            $(check_block8::<$name>(stringify!($name));)*
        }
    };
}

const fn dims(h: usize, w: usize, cin: usize, hidden: usize, cout: usize, stride: usize, band: usize) -> BlockDims {
    BlockDims {
        h,
        w,
        cin,
        hidden,
        cout,
        stride,
        expand: hidden != cin,
        residual: stride == 1 && cin == cout,
        band,
        stem: None,
        padding: Padding::Torch,
    }
}

shapes! {
    // Whole maps of 49 and 9 pixels: shape-constant GEMMs in tiles of 10 and 9 rows.
    Residual7x7: dims(7, 7, 40, 240, 40, 1, 7);
    Residual3x3: dims(3, 3, 24, 144, 24, 1, 3);
    // A layer of 5 outputs after an expand of 18, both on the AVX-512 k-pair GEMM (one group of
    // 8 channels; three, the last of 2), which 2 threads split by channels into 16 and 2.
    NarrowOut: dims(2, 2, 9, 18, 5, 1, 2);
    // 20 outputs on k pairs (the last group of 4) with a shortcut, over an odd k.
    RaggedPairs: dims(6, 5, 20, 63, 20, 1, 4);
    Stride2Odd: dims(13, 11, 24, 144, 32, 2, 7);
    BandsOfThree: dims(17, 9, 16, 96, 24, 1, 3);
    NoExpand: dims(9, 10, 32, 32, 16, 1, 9);
    NarrowRagged: dims(5, 6, 3, 21, 5, 2, 2);
    OneColumn: dims(12, 1, 8, 48, 8, 1, 12);
    FusedStem: BlockDims { stem: Some((23, 18)), ..dims(12, 9, 16, 16, 8, 1, 4) };
    Stride2EvenTf: BlockDims { padding: Padding::Tf, ..dims(14, 12, 24, 144, 32, 2, 3) };
    Stride2WholeMapTf: BlockDims { padding: Padding::Tf, ..dims(8, 8, 16, 96, 24, 2, 4) };
    FusedStemTf: BlockDims { stem: Some((24, 17)), padding: Padding::Tf, ..dims(12, 9, 16, 16, 8, 1, 4) };
    // Few rows, many channels: int8 splits these by groups of 64 channels on 3 and 7 threads
    // (`int8::splits_channels`), a last group of 8.
    ChannelSplit: dims(4, 5, 24, 200, 24, 1, 4);
    ChannelSplitS2Tf: BlockDims { padding: Padding::Tf, ..dims(6, 7, 16, 136, 40, 2, 3) };
}

fn check_block<B: BlockShape>(name: &str) {
    let d = B::DIMS;
    let seed = d.h as u64 * 31 + d.w as u64;
    let x = data(d.x_len(), seed);
    let (sw, sb) = (data(27 * d.cin, seed + 1), data(d.cin, seed + 2));
    let (ew, eb) = (data(d.cin * round_up_nr(d.hidden), seed + 3), data(round_up_nr(d.hidden), seed + 4));
    let (dw, db) = (data(9 * d.hidden, seed + 5), data(d.hidden, seed + 6));
    let (pw, pb) = (data(d.hidden * round_up_nr(d.cout), seed + 7), data(round_up_nr(d.cout), seed + 8));
    let p = BlockParams {
        stem: d.stem.map(|_| (&sw[..], &sb[..])),
        expand: d.expand.then_some((&ew[..], &eb[..])),
        depthwise: (&dw, &db),
        project: (&pw, &pb),
    };
    for cpu in cpus() {
        let mut want = vec![f32::NAN; d.y_len()];
        let mut scratch = vec![f32::NAN; d.scratch_len()];
        par_block_dyn(None, cpu, &d, &x, &mut want, p, &mut scratch, &mut [], 0);
        for n in [1, 2, 3, 7] {
            let mut pool = Threads::new(n);
            let mut extra = vec![f32::NAN; (n - 1) * d.scratch_len()];
            let mut got = vec![f32::NAN; d.y_len()];
            par_block::<B>(Some(&mut pool), cpu, &x, &mut got, p, &mut scratch, &mut extra, d.scratch_len());
            assert_eq!(bits(&got), bits(&want), "{name}, {:?}, {n} threads", cpu.isa());
        }
    }
}

/// Every int8 kernel path this CPU runs (`Cpu::int8_kernels`).
fn int8_paths() -> Vec<Cpu> {
    let mut paths: Vec<Cpu> = Vec::new();
    for cpu in cpus() {
        for (vnni, amx) in [(true, true), (true, false), (false, false)] {
            let c = cpu.with_vnni(vnni).with_amx(amx);
            if paths.iter().all(|p| p.int8_kernels() != c.int8_kernels()) {
                paths.push(c);
            }
        }
    }
    paths
}

/// A quantized layer's arrays: `weights` random int8 weights; per channel (`channels`, padded
/// as the kernels require) biases, multipliers in [2^30, 2^31) and shifts that mix the
/// requantization's 64-bit and narrow forms vector by vector.
struct Q8 {
    weight: Vec<i8>,
    bias: Vec<i32>,
    m: Vec<i32>,
    shift: Vec<i32>,
    levels: Vec<u8>,
}

fn q8(weights: usize, channels: usize, seed: u64) -> Q8 {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let weight = (0..weights).map(|_| next() as i8).collect();
    let bias = (0..channels).map(|_| (next() % 40_001) as i32 - 20_000).collect();
    let m = (0..channels).map(|_| (1 << 30) + (next() % (1 << 30)) as i32).collect();
    let wide: Vec<bool> = (0..channels.div_ceil(16)).map(|_| next() % 4 == 0).collect();
    let shift =
        (0..channels).map(|c| if wide[c / 16] { 30 + (next() % 3) as i32 } else { 38 + (next() % 5) as i32 }).collect();
    let levels = (0..4).map(|_| next() as u8).collect();
    Q8 { weight, bias, m, shift, levels }
}

impl Q8 {
    /// The layer with random input and output zero points and a clamp around the output's.
    fn conv(&self) -> QConv<'_> {
        let [zi, zo, lo, hi] = [0, 1, 2, 3].map(|i| self.levels[i] % 64);
        QConv {
            weight: &self.weight,
            bias: &self.bias,
            m: &self.m,
            shift: &self.shift,
            input_zero: i32::from(zi) * 4,
            output_zero: i32::from(zo) + 96,
            clamp: (lo, 192 + hi),
        }
    }
}

fn check_block8<B: BlockShape>(name: &str) {
    let d = B::DIMS;
    if name.starts_with("ChannelSplit") {
        assert!(int8::splits_channels(&d, 3) && int8::splits_channels(&d, 7), "{name}");
    }
    let seed = d.h as u64 * 37 + d.w as u64;
    let tiles = |n: usize| n.div_ceil(16);
    let stem = q8(tiles(d.hidden) * 7 * 64, tiles(d.hidden) * 16, seed + 1);
    let expand = q8(tiles(d.hidden) * d.cin.div_ceil(4) * 64, tiles(d.hidden) * 16, seed + 2);
    let depthwise = q8(9 * d.hidden, d.hidden.next_multiple_of(64), seed + 3);
    let project = q8(tiles(d.cout) * d.hidden.div_ceil(4) * 64, tiles(d.cout) * 16, seed + 4);
    let shortcut_m = q8(0, tiles(d.cout) * 16, seed + 5).m.iter().map(|m| m / 2).collect::<Vec<i32>>();
    let p = QBlockParams {
        stem: d.stem.map(|_| stem.conv()),
        expand: d.expand.then(|| expand.conv()),
        depthwise: depthwise.conv(),
        project: project.conv(),
        shortcut: d.residual.then(|| QShortcut { zero: 97, m: &shortcut_m }),
    };
    let floats = data(d.x_len(), seed + 6);
    let levels: Vec<u8> = floats.iter().map(|f| (f * 60.0 + 128.0) as u8).collect();
    let x = match d.stem {
        Some(_) => BlockInput::Image(Image::Floats { x: &floats, inverse_scale: 50.0, zero_point: 120 }),
        None => BlockInput::Levels(&levels),
    };
    for cpu in int8_paths() {
        let mut want = vec![0u8; d.y_len()];
        let mut scratch = vec![0u8; d.scratch_len()];
        block8_dyn(None, cpu, &d, x, &mut want, p, &mut scratch, &mut [], 0);
        for specialized in [true, false] {
            let cpu = cpu.with_specialized(specialized);
            for n in [1, 2, 3, 7] {
                let mut pool = Threads::new(n);
                let mut extra = vec![0u8; (n - 1) * d.scratch_len()];
                let mut got = vec![0u8; d.y_len()];
                par_block8::<B>(Some(&mut pool), cpu, x, &mut got, p, &mut scratch, &mut extra, d.scratch_len());
                let path = cpu.int8_kernels();
                assert_eq!(got, want, "{name}, {path}, specialized {specialized}, {n} threads");
            }
        }
    }
}

macro_rules! pointwise_cases {
    ($(($p:literal, $k:literal, $n:literal, $relu:literal)),*) => {
        #[test]
        fn pointwise_equals_the_run_time_shaped_kernel() {
            $({
                let (x, w, b) = (data($p * $k, 1), data($k * round_up_nr($n), 2), data(round_up_nr($n), 3));
                for cpu in cpus() {
                    let mut want = vec![0.0; $p * $n];
                    dispatch::pointwise_dyn(cpu, $p, $k, $n, $relu, &x, &w, &b, None, &mut want);
                    for n in [1, 2, 7] {
                        let mut pool = Threads::new(n);
                        let mut got = vec![f32::NAN; $p * $n];
                        par_pointwise::<$p, $k, $n, $relu>(Some(&mut pool), cpu, &x, &w, &b, None, &mut got);
                        assert_eq!(bits(&got), bits(&want), "1x1 {}x{}->{}, {:?}, {n} threads", $p, $k, $n, cpu.isa());
                    }
                }
            })*
        }
    };
}

pointwise_cases!((49, 320, 1280, true), (9, 112, 1280, true), (37, 24, 40, false), (1, 5, 3, true));

macro_rules! int8_pointwise_cases {
    ($(($p:literal, $k:literal, $n:literal)),*) => {
        #[test]
        fn int8_pointwise_equals_the_run_time_shaped_kernel() {
            $({
                let (k, tiles): (usize, usize) = ($k, ($n as usize).div_ceil(16));
                let q = q8(tiles * k.div_ceil(4) * 64, tiles * 16, $k);
                let x: Vec<u8> = data($p * $k, 9).iter().map(|f| (f * 60.0 + 128.0) as u8).collect();
                for cpu in int8_paths() {
                    let mut want = vec![0u8; $p * $n];
                    pointwise8_dyn(None, cpu, $p, $k, $n, &x, q.conv(), None, &mut want);
                    for specialized in [true, false] {
                        let cpu = cpu.with_specialized(specialized);
                        for n in [1, 2, 7] {
                            let mut pool = Threads::new(n);
                            let mut got = vec![0u8; $p * $n];
                            par_pointwise8::<$p, $k, $n>(Some(&mut pool), cpu, &x, q.conv(), None, &mut got);
                            let path = cpu.int8_kernels();
                            assert_eq!(got, want, "1x1 {}x{}->{}, {path}, {specialized}, {n} threads", $p, $k, $n);
                        }
                    }
                }
            })*
        }
    };
}

int8_pointwise_cases!((49, 320, 1280), (9, 112, 1280), (37, 24, 40), (1, 5, 3), (40, 64, 20));

#[test]
fn stem_pool_and_linear_equal_the_run_time_shaped_kernels() {
    stem_pool_and_linear::<29, 22, false, { 15 * 11 }>();
    stem_pool_and_linear::<28, 22, true, { 14 * 11 }>();
}

/// `HW`: the stem's output pixels (a const generic cannot be computed from `H` and `W` here).
fn stem_pool_and_linear<const H: usize, const W: usize, const TF: bool, const HW: usize>() {
    let pad = if TF { Padding::Tf } else { Padding::Torch };
    let (x, w, b) = (data(H * W * 3, 4), data(27 * 24, 5), data(24, 6));
    let (ho, wo) = (conv3x3_out(H, 2), conv3x3_out(W, 2));
    let (lw, lb) = (data(24 * round_up_nr(10), 7), data(round_up_nr(10), 8));
    for cpu in cpus() {
        let mut want = vec![0.0; ho * wo * 24];
        dispatch::stem_dyn(cpu, H, W, 24, pad, &x, &w, &b, &mut want);
        let mut pooled_want = vec![0.0; 24];
        dispatch::avg_pool_dyn(cpu, ho * wo, 24, &want, &mut pooled_want);
        let mut logits_want = vec![0.0; 10];
        dispatch::linear_dyn(cpu, 24, 10, &pooled_want, &lw, &lb, &mut logits_want);
        for n in [1, 2, 3] {
            let mut pool = Threads::new(n);
            let mut got = vec![f32::NAN; ho * wo * 24];
            par_stem::<H, W, 24, TF>(Some(&mut pool), cpu, &x, &w, &b, &mut got);
            assert_eq!(bits(&got), bits(&want), "stem, {:?}, {n} threads", cpu.isa());
            let mut pooled = vec![f32::NAN; 24];
            avg_pool::<HW, 24>(cpu, &got, &mut pooled);
            assert_eq!(bits(&pooled), bits(&pooled_want), "pool, {:?}", cpu.isa());
            let mut logits = vec![f32::NAN; 10];
            par_linear::<24, 10>(Some(&mut pool), cpu, &pooled, &lw, &lb, &mut logits);
            assert_eq!(bits(&logits), bits(&logits_want), "linear, {:?}, {n} threads", cpu.isa());
        }
    }
}
