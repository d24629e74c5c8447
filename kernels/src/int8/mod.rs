//! int8 inference: TFLite's integer scheme (8-bit activations with zero points, symmetric int8
//! weights per output channel, i32 accumulation, fixed-point requantization, ReLU6 as a clamp,
//! residual adds rescaled in the projection's requantization), with the f32 path's step
//! structure: the stem, inverted-residual blocks fused in bands of output rows with a ring of
//! expanded rows (`BlockDims`' ring and band sizes, in bytes), 1x1 layers, pooling and the
//! classifier, whose accumulators become f32 logits.
//!
//! One portable kernel body per op (`conv`), and four x86 paths (`path` picks one per `Cpu`;
//! `isa` has the shape carriers and one `Ops` type per path):
//! `vpdpbusd` kernels where the CPU has AVX-512 VNNI (`vnni`, its depthwise `vnni_dw` and
//! `vnni_dw_tail`, both requantizing with `vnni_requant`), with
//! AMX tiles for the 1x1 convolutions where it has AMX-INT8 (`amx`), or AVX-VNNI (`avxvnni`,
//! 256-bit, its depthwise `avxvnni_dw`); `vpmaddwd` kernels on AVX2 (`avx2`; both requantize
//! with `avx2_requant`). The block entry
//! point takes a block's shapes as a `BlockShape` type. On the VNNI (and AMX) and AVX-VNNI
//! paths each block is one instance whose band loop, 1x1 and stem loops (`isa::PwShape`) and
//! depthwise (`isa::DwShape`) see its shapes as constants; so do standalone 1x1 layers
//! (`par_pointwise8`). The innermost 1x1 register tile (`vnni::tile`, one instance per tile
//! shape) takes `k` at run time: a constant `k` there measured no faster. The AVX2 path (slower
//! than f32 wherever it runs) and, on x86-64, the portable one run one run-time-shaped instance
//! for every block, as do the two phases of a channel split on many threads
//! (`block::splits_channels`); `Cpu::specialized` off selects run-time-shaped instances on every
//! path.
//! Every kernel reproduces the compiler's int8 reference interpreter bit for bit.
//!
//! Layouts (the compiler packs them): the stem (over its input patches, `k` ordered `[ky][kx]
//! [ci]`), 1x1 convolutions and the classifier in tiles of 16 output channels, `[k / 4][16][4]`,
//! with the input's zero point folded into the bias and the per-channel arrays padded to whole
//! tiles; depthwise weights tap-major (`[ky][kx][c]`), its per-channel arrays in groups of 64
//! channels in `dw_lane` order.

#[cfg(target_arch = "x86_64")]
mod amx;
pub mod arith;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_requant;
#[cfg(target_arch = "x86_64")]
mod avxvnni;
#[cfg(target_arch = "x86_64")]
mod avxvnni_dw;
mod block;
mod conv;
#[cfg(target_arch = "x86_64")]
mod dw_cols;
mod isa;
mod par;
mod path;
#[cfg(target_arch = "x86_64")]
mod vnni;
#[cfg(target_arch = "x86_64")]
mod vnni_dw;
#[cfg(target_arch = "x86_64")]
mod vnni_dw_tail;
#[cfg(target_arch = "x86_64")]
mod vnni_requant;

pub use block::{split_work, splits_channels};
#[cfg(feature = "std")]
pub use par::stem8_output;
pub use par::{
    avg_pool8, avg_pool8_dyn, block8_dyn, linear8_dyn, par_block8, par_linear8, par_pointwise8, par_stem8,
    pointwise8_dyn, stem8_dyn,
};
pub(crate) use path::kernels_name;
#[cfg(target_arch = "x86_64")]
pub use path::{has_avx512_vnni, has_avx_vnni};

use crate::dispatch::check;

/// The shift the compiler pads per-channel arrays with (padding lanes have multiplier 0): one
/// the SIMD requantizations' 32-bit form accepts, so padding never forces the 64-bit form.
pub const PAD_SHIFT: i32 = 33;

/// Where a depthwise layer's per-channel arrays hold channel `c`: groups of 64 channels, in
/// the order the VNNI depthwise's four accumulators take them: channel `16L + 4q + i` of a
/// group (128-bit lane `L`, lane `i` in it) at `16q + 4L + i`, the order byte and word unpacks
/// leave four rows' levels in (`vnni_dw::quads`).
#[inline(always)]
pub const fn dw_lane(c: usize) -> usize {
    c / 64 * 64 + c % 16 / 4 * 16 + c % 64 / 16 * 4 + c % 4
}

/// A quantized convolution: int8 weights, i32 biases, per-channel multipliers `m / 2^shift`,
/// and the zero points and clamp of its input and output levels.
#[derive(Clone, Copy, Debug)]
pub struct QConv<'a> {
    pub weight: &'a [i8],
    pub bias: &'a [i32],
    pub m: &'a [i32],
    pub shift: &'a [i32],
    pub input_zero: i32,
    pub output_zero: i32,
    /// ReLU6's range as levels, or `(0, 255)`.
    pub clamp: (u8, u8),
}

impl QConv<'_> {
    /// Its arrays hold `weights` weights and `cout` per-channel values, and every shift is in
    /// `1..=62` (panics otherwise: an internal error).
    fn check_arrays(&self, what: &str, weights: usize, cout: usize) {
        check(what, self.weight.len(), weights);
        check(what, self.bias.len(), cout);
        check(what, self.m.len(), cout);
        check(what, self.shift.len(), cout);
        // A fold, not `all`: without the early exit it vectorizes (it runs on every block call).
        let ok = self.shift[..cout].iter().fold(true, |ok, s| ok & (1..=62).contains(s));
        assert!(ok, "internal error: {what}: shift out of range");
    }

    /// A 1x1 convolution's (or the stem's, `k` = 27) operands: weights in tiles of 16 channels,
    /// per-channel arrays padded to whole tiles.
    pub(crate) fn check_pointwise(&self, what: &str, k: usize, n: usize) {
        let tiles = n.div_ceil(16);
        self.check_arrays(what, crate::dispatch::size([tiles, k.div_ceil(4), 64]), tiles * 16);
    }

    /// A depthwise layer's operands: tap-major weights, per-channel arrays padded to whole
    /// groups of 64.
    pub(crate) fn check_depthwise(&self, what: &str, c: usize) {
        check(what, self.weight.len(), crate::dispatch::size([9, c]));
        self.check_arrays(what, 0, c.next_multiple_of(64));
    }
}

/// The shortcut of a residual block: the input's zero point and the multipliers that rescale it
/// into the output (sharing each channel's shift with the projection's).
#[derive(Clone, Copy, Debug)]
pub struct QShortcut<'a> {
    pub zero: i32,
    pub m: &'a [i32],
}

/// The classifier: f32 logits `(acc + bias) * scales[c]`; weights, bias and scales in tiles of
/// 16 classes.
#[derive(Clone, Copy, Debug)]
pub struct QLinear<'a> {
    pub weight: &'a [i8],
    pub bias: &'a [i32],
    pub scales: &'a [f32],
    pub input_zero: i32,
}

/// The parts of a fused block.
#[derive(Clone, Copy, Debug)]
pub struct QBlockParams<'a> {
    pub stem: Option<QConv<'a>>,
    pub expand: Option<QConv<'a>>,
    pub depthwise: QConv<'a>,
    pub project: QConv<'a>,
    pub shortcut: Option<QShortcut<'a>>,
}

/// The network's input as the stem reads it: the caller's floats, quantized as they are read,
/// or levels staged in the arena (`forward_rgb8`).
#[derive(Clone, Copy, Debug)]
pub enum Image<'a> {
    Floats { x: &'a [f32], inverse_scale: f32, zero_point: i32 },
    Levels(&'a [u8]),
}

impl Image<'_> {
    pub fn len(&self) -> usize {
        match self {
            Image::Floats { x, .. } => x.len(),
            Image::Levels(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a fused block reads: the image (a block with a fused stem) or a tensor's levels.
#[derive(Clone, Copy, Debug)]
pub enum BlockInput<'a> {
    Image(Image<'a>),
    Levels(&'a [u8]),
}

/// Normalise 8-bit RGB pixels as `normalize_rgb8` does, then quantize them as the stem's input
/// (`arith::quantize`), into `out`. `Err` unless `pixels` holds exactly `out.len()` values.
pub fn quantize_rgb8(
    pixels: &[u8],
    scale: &[f32; 3],
    bias: &[f32; 3],
    inverse_scale: f32,
    zero_point: i32,
    out: &mut [u8],
) -> Result<(), crate::Error> {
    if pixels.len() != out.len() {
        return Err(crate::Error::PixelsLength { expected: out.len(), found: pixels.len() });
    }
    for (o, p) in out.chunks_exact_mut(3).zip(pixels.chunks_exact(3)) {
        for c in 0..3 {
            let x = crate::pixels::mul_add(f32::from(p[c]), scale[c], bias[c]);
            o[c] = arith::quantize(x, inverse_scale, zero_point);
        }
    }
    Ok(())
}

/// The arena's floats as bytes (an int8 model's plan is in bytes; arenas hold f32).
#[inline]
pub fn bytes_mut(a: &mut [f32]) -> &mut [u8] {
    bytemuck::cast_slice_mut(a)
}

/// Baked int8 parameters are one little-endian byte blob: `i8s(&p[a..b])` and `i32s(&p[c..d])`
/// view its weights and its 4-byte-aligned i32 (and `f32s`: f32) arrays.
#[inline]
pub fn i8s(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

/// See `i8s`. Panics if `b` is misaligned: the compiler aligns every i32 array.
#[inline]
pub fn i32s(b: &[u8]) -> &[i32] {
    bytemuck::cast_slice(b)
}

/// See `i8s`.
#[inline]
pub fn f32s(b: &[u8]) -> &[f32] {
    bytemuck::cast_slice(b)
}

/// Levels back to reals: `scale * (q - zero_point)` (for `forward_inspect`).
#[cfg(feature = "std")]
pub fn dequantize(levels: &[u8], scale: f32, zero_point: i32) -> std::vec::Vec<f32> {
    levels.iter().map(|&q| scale * (i32::from(q) - zero_point) as f32).collect()
}

/// The xorshift generator of the kernels' property tests.
#[cfg(test)]
pub(crate) fn xorshift(mut s: u64) -> impl FnMut() -> u64 {
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}
