//! What an int8 path runs: the shape carriers its kernels are instantiated on (`PwShape`,
//! `DwShape`: constants for a generated block's shapes, values otherwise) and `Ops`, one type
//! per path (`Plain`, the portable bodies; `Avx2`, `AvxVnni`, `Vnni`) whose methods call that
//! path's kernels. Which path runs is `path`'s choice.

use super::conv::{self, STEM_K, STEM_PX};
use super::{Image, QConv, QLinear, QShortcut};
use core::ops::Range;

/// A 1x1 layer's input (`k`) and output (`n`) channels: constants where the carrier is a
/// generated block's shape type (`block::Expand`, `block::Project`), so that a kernel instantiated
/// on it sees them as constants; values otherwise (`PwDims`).
pub(crate) trait PwShape: Copy {
    fn k(self) -> usize;
    fn n(self) -> usize;
}

/// Run-time 1x1 shapes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PwDims {
    pub k: usize,
    pub n: usize,
}

impl PwShape for PwDims {
    #[inline(always)]
    fn k(self) -> usize {
        self.k
    }

    #[inline(always)]
    fn n(self) -> usize {
        self.n
    }
}

/// A depthwise layer's input width, channels, stride and left padding: constants or values,
/// as `PwShape`.
pub(crate) trait DwShape: Copy {
    fn w_in(self) -> usize;
    fn c(self) -> usize;
    fn stride(self) -> usize;
    fn pad_l(self) -> usize;

    /// How far apart the weights' taps are (`[ky][kx][taps]`): `c`, or more when the kernel
    /// runs `c` channels of a wider layer (a channel split's group of 64, `DwDims`).
    #[inline(always)]
    fn taps(self) -> usize {
        self.c()
    }
}

/// Run-time depthwise shapes: a channel split's groups (one instance serves every block) and
/// tests; blocks of run-time shapes use `block::Depthwise`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DwDims {
    pub w_in: usize,
    pub c: usize,
    pub stride: usize,
    pub pad_l: usize,
    pub taps: usize,
}

impl DwShape for DwDims {
    #[inline(always)]
    fn w_in(self) -> usize {
        self.w_in
    }

    #[inline(always)]
    fn c(self) -> usize {
        self.c
    }

    #[inline(always)]
    fn stride(self) -> usize {
        self.stride
    }

    #[inline(always)]
    fn pad_l(self) -> usize {
        self.pad_l
    }

    #[inline(always)]
    fn taps(self) -> usize {
        self.taps
    }
}

/// The kernels a path runs (pooling is the portable body on every path).
pub(crate) trait Ops: Copy {
    fn pointwise<S: PwShape>(self, x: &[u8], s: S, q: &QConv, res: Option<(&[u8], QShortcut)>, out: &mut [u8]);
    /// `conv::dw_row` for each row triple of `rows`, output row `r` at `out[r * wo * c..]`.
    fn dw_band<S: DwShape>(self, rows: &[[Option<&[u8]>; 3]], s: S, q: &QConv, out: &mut [u8]);
    fn linear(self, x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]);
    /// `arith::quantize` of each of `x` into `out` (as long as `x`).
    fn quantize(self, x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]);

    /// One output row of the stem (3x3, stride 2, 3 channels in, `s.n()` out) over the `img_h x
    /// img_w` image: tap row `ky` reads image row `top + ky - 1` (outside the image: padding),
    /// tap column `kx` of output column `ox` image column `2 * ox + kx - pad_l`. A 1x1
    /// convolution of the pixels' 27-level patches (`conv::stem_patches`, padded to 28 bytes:
    /// the weights, packed for 27 inputs in groups of 4, have a zero 28th).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn stem_row<S: PwShape>(
        self,
        img: Image,
        img_h: usize,
        img_w: usize,
        s: S,
        top: usize,
        pad_l: usize,
        q: &QConv,
        out: &mut [u8],
    ) {
        let cout = s.n();
        debug_assert_eq!(s.k(), STEM_K);
        let wo = out.len() / cout;
        let mut patches = [0u8; STEM_PX * STEM_K];
        let mut ox0 = 0;
        while ox0 < wo {
            let n = STEM_PX.min(wo - ox0);
            conv::stem_patches(self, img, img_h, img_w, top, pad_l, ox0, n, q.input_zero, &mut patches);
            let (x, o) = (&patches[..n * STEM_K], &mut out[ox0 * cout..(ox0 + n) * cout]);
            self.pointwise(x, s, q, None, o);
            ox0 += n;
        }
    }
}

/// The portable bodies.
#[derive(Clone, Copy)]
pub(crate) struct Plain;

impl Ops for Plain {
    #[inline(always)]
    fn pointwise<S: PwShape>(self, x: &[u8], s: S, q: &QConv, res: Option<(&[u8], QShortcut)>, out: &mut [u8]) {
        conv::pointwise(x, s.k(), s.n(), q, res, out)
    }

    #[inline(always)]
    fn dw_band<S: DwShape>(self, rows: &[[Option<&[u8]>; 3]], s: S, q: &QConv, out: &mut [u8]) {
        let (w_in, c, stride, pad_l) = (s.w_in(), s.c(), s.stride(), s.pad_l());
        let taps = s.taps();
        conv::by_rows(rows, out, |src, o| conv::dw_row(src, w_in, c, taps, stride, pad_l, q, o))
    }

    #[inline(always)]
    fn linear(self, x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
        conv::linear(x, k, classes, q, out)
    }

    #[inline(always)]
    fn quantize(self, x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]) {
        conv::quantize(x, inverse_scale, zero_point, out)
    }
}

/// An `Ops` whose methods call the named modules' kernels (`$name`'s doc names the features);
/// a `pointwise` with an extra argument gets the named field of the type.
macro_rules! simd_ops {
    (@type $(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[derive(Clone, Copy)]
        pub(crate) struct $name;
    };
    (@type $(#[$doc:meta])* $name:ident $field:ident: $ty:ty) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[derive(Clone, Copy)]
        pub(crate) struct $name {
            pub $field: $ty,
        }
    };
    (
        $(#[$doc:meta])* $name:ident $({ $field:ident: $ty:ty })?,
        pointwise: $pw:ident $(($arg:ident))?,
        dw_band: $dw:ident,
        linear: $lin:ident,
        quantize: $quant:ident
    ) => {
        simd_ops!(@type $(#[$doc])* $name $($field: $ty)?);

        // SAFETY (every method): see the type: the CPU has the features. The packed operands
        // are the compiler's.
        #[cfg(target_arch = "x86_64")]
        impl Ops for $name {
            #[inline(always)]
            fn pointwise<S: PwShape>(self, x: &[u8], s: S, q: &QConv, res: Option<(&[u8], QShortcut)>, out: &mut [u8]) {
                // SAFETY: see above.
                unsafe { super::$pw::pointwise(x, s, q, res, out $(, self.$arg)?) }
            }

            #[inline(always)]
            fn dw_band<S: DwShape>(self, rows: &[[Option<&[u8]>; 3]], s: S, q: &QConv, out: &mut [u8]) {
                // SAFETY: see above.
                unsafe { super::$dw::dw_band(rows, s, q, out) }
            }

            #[inline(always)]
            fn linear(self, x: &[u8], k: usize, classes: Range<usize>, q: &QLinear, out: &mut [f32]) {
                // SAFETY: see above.
                unsafe { super::$lin::linear(x, k, classes, q, out) }
            }

            #[inline(always)]
            fn quantize(self, x: &[f32], inverse_scale: f32, zero_point: i32, out: &mut [u8]) {
                // SAFETY: see above.
                unsafe { super::$quant::quantize(x, inverse_scale, zero_point, out) }
            }
        }
    };
}

simd_ops!(
    /// `vpmaddwd` kernels (`avx2`), needing AVX2 and FMA. Only the AVX2 entry points (`on_avx2`),
    /// which run only when `path` chose `Path::Avx2`, instantiate kernels with it.
    Avx2,
    pointwise: avx2,
    dw_band: avx2,
    linear: avx2,
    quantize: avx2
);
simd_ops!(
    /// 256-bit `vpdpbusd` kernels (`avxvnni`; the image quantization is AVX2's), needing AVX2,
    /// FMA and AVX-VNNI. Only the AVX-VNNI entry points (`on_avxvnni`), which run only when
    /// `path` chose `Path::AvxVnni`, instantiate kernels with it.
    AvxVnni,
    pointwise: avxvnni,
    dw_band: avxvnni_dw,
    linear: avxvnni,
    quantize: avx2
);
simd_ops!(
    /// `vpdpbusd` kernels (`vnni`), needing AVX-512 F, BW, VL and VNNI; with `amx`, AMX tiles
    /// for the 1x1 convolutions (`amx::pointwise`), needing `amx::has_amx()` too. Only the VNNI
    /// entry points (`on_vnni`), which run only when `path` chose `Path::Vnni` or `Path::Amx`
    /// (`amx` set for the latter only), instantiate kernels with it.
    Vnni { amx: bool },
    pointwise: amx(amx),
    dw_band: vnni_dw,
    linear: vnni,
    quantize: vnni
);

#[cfg(all(test, feature = "std", target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::int8::path::{has_avx512_vnni, has_avx_vnni};

    /// The SIMD image quantizations against `arith::quantize`: NaN, infinities, ties, huge and
    /// tiny values, lengths that leave a partial vector.
    #[test]
    fn simd_quantize_matches_arith() {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5, -0.5, 1.5, -2.5, 1e30, -1e30, 0.0, -0.0];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000u32 {
            let v: Vec<f32> = (0..37)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x % 5 {
                        0 => special[(x >> 8) as usize % special.len()],
                        1 => ((x >> 20) % 64) as f32 * 0.5 - 16.0, // ties
                        _ => f32::from_bits((x >> 16) as u32 & 0x41ff_ffff) * if x & 1 == 0 { 1.0 } else { -1.0 },
                    }
                })
                .collect();
            let (inv, zp) = ([1.0, 2.0, 0.37, 127.5, 1e-3][round as usize % 5], (round % 256) as i32);
            let want: Vec<u8> = v.iter().map(|&f| super::super::arith::quantize(f, inv, zp)).collect();
            let mut got = vec![0u8; v.len()];
            if avx2 {
                Avx2.quantize(&v, inv, zp, &mut got);
                assert_eq!(got, want, "AVX2: {v:?} * {inv} + {zp}");
            }
            if avx2 && has_avx_vnni() {
                got.fill(0);
                AvxVnni.quantize(&v, inv, zp, &mut got);
                assert_eq!(got, want, "AVX-VNNI: {v:?} * {inv} + {zp}");
            }
            if has_avx512_vnni() {
                got.fill(0);
                Vnni { amx: false }.quantize(&v, inv, zp, &mut got);
                assert_eq!(got, want, "VNNI: {v:?} * {inv} + {zp}");
            }
        }
    }

    /// The SIMD 1x1 convolutions against the portable body: sizes around the register tiles
    /// (pixels, channel tiles, partial input groups, inputs in several AMX chunks), with and
    /// without a shortcut, each tile of 16 channels requantized in the 64-bit form or the narrow
    /// one at random (so neighbouring tiles mix them), extreme levels and weights.
    #[test]
    fn pointwise_matches_the_portable_body() {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let mut next = crate::int8::xorshift(0x2545_f491_4f6c_dd1du64);
        for case in 0..400 {
            // Every fourth case up to 300 inputs: several of AMX's 64-input chunks.
            let k_max = if case % 4 == 3 { 300 } else { 70 };
            let (k, n, pixels) =
                (1 + (next() % k_max) as usize, 1 + (next() % 70) as usize, 1 + (next() % 56) as usize);
            let extreme = case % 3 == 0;
            let level = |v: u64| if extreme { [0u8, 255][(v % 2) as usize] } else { v as u8 };
            let tiles = n.div_ceil(16);
            let x: Vec<u8> = (0..pixels * k).map(|_| level(next())).collect();
            let weight: Vec<i8> = (0..tiles * k.div_ceil(4) * 64)
                .map(|_| if extreme { [-127i8, 127][(next() % 2) as usize] } else { next() as i8 })
                .collect();
            let bias: Vec<i32> = (0..tiles * 16).map(|_| (next() % 200_001) as i32 - 100_000).collect();
            let m: Vec<i32> = (0..tiles * 16).map(|_| (1 << 30) + (next() % (1 << 30)) as i32).collect();
            let wide: Vec<bool> = (0..tiles).map(|_| next().is_multiple_of(2)).collect();
            let shift: Vec<i32> = (0..tiles * 16)
                .map(|i| if wide[i / 16] { 29 + (next() % 4) as i32 } else { 38 + (next() % 8) as i32 })
                .collect();
            let lo = (next() % 100) as u8;
            let q = QConv {
                weight: &weight,
                bias: &bias,
                m: &m,
                shift: &shift,
                input_zero: 0,
                output_zero: (next() % 256) as i32,
                clamp: if case % 5 == 2 { (0, 255) } else { (lo, lo + (next() % 156) as u8) },
            };
            let levels: Vec<u8> = (0..pixels * n).map(|_| level(next())).collect();
            let m_res: Vec<i32> = (0..tiles * 16).map(|_| (next() % (1 << 30)) as i32).collect();
            let res = (case % 2 == 1).then(|| (&levels[..], QShortcut { zero: (next() % 256) as i32, m: &m_res }));
            let mut want = vec![0u8; pixels * n];
            Plain.pointwise(&x, PwDims { k, n }, &q, res, &mut want);
            let mut got = vec![0u8; pixels * n];
            let what = format!("case {case}: k {k} n {n} pixels {pixels} residual {}", res.is_some());
            if avx2 {
                Avx2.pointwise(&x, PwDims { k, n }, &q, res, &mut got);
                assert_eq!(got, want, "AVX2, {what}");
            }
            if avx2 && has_avx_vnni() {
                got.fill(0);
                AvxVnni.pointwise(&x, PwDims { k, n }, &q, res, &mut got);
                assert_eq!(got, want, "AVX-VNNI, {what}");
            }
            if has_avx512_vnni() {
                got.fill(0);
                Vnni { amx: false }.pointwise(&x, PwDims { k, n }, &q, res, &mut got);
                assert_eq!(got, want, "VNNI, {what}");
            }
            if has_avx512_vnni() && super::super::amx::has_amx() {
                got.fill(0);
                Vnni { amx: true }.pointwise(&x, PwDims { k, n }, &q, res, &mut got);
                assert_eq!(got, want, "AMX, {what}");
            }
        }
    }

    /// The SIMD depthwise bands against the portable body, at zero points the networks never
    /// give a depthwise (its inputs follow ReLU6, zero point 0): channel counts around the 16-,
    /// 32- and 64-channel steps, both strides, left padding, bands of 1 to 4 rows each with its
    /// own absent tap row (so that some neighbouring rows share two input rows, which VNNI runs
    /// as a pair, and some do not), extreme levels.
    #[test]
    fn dw_rows_match_the_portable_body() {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let mut next = crate::int8::xorshift(0x853c_49e6_748f_ea9bu64);
        // Cases from 300 on: 32 channels at stride 1, which VNNI runs two pixels to a vector.
        for case in 0..360 {
            let twin = case >= 300;
            let c = if twin { 32 } else { [1, 7, 8, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65, 100, 144][case % 15] };
            let (stride, pad_l) = (if twin { 1 } else { [1, 2][case % 2] }, [0, 1][(case / 2) % 2]);
            let w_in = 1 + (next() % if twin { 40 } else { 13 }) as usize;
            let wo = (w_in + pad_l).saturating_sub(3) / stride + 1;
            let extreme = case % 3 == 0;
            let level = |v: u64| if extreme { [0u8, 255][(v % 2) as usize] } else { v as u8 };
            // A band of 1 to 4 output rows over 5 input rows, each output row with its own
            // absent tap row (or none).
            let rows: Vec<Vec<u8>> = (0..5).map(|_| (0..w_in * c).map(|_| level(next())).collect()).collect();
            // Every seventh case a group of a wider layer: taps further apart than `c`.
            let taps = if case % 7 == 3 { c + 64 } else { c };
            let weight: Vec<i8> = (0..8 * taps + c)
                .map(|_| if extreme { [-127i8, 127][(next() % 2) as usize] } else { next() as i8 })
                .collect();
            let cp = c.next_multiple_of(64);
            let bias: Vec<i32> = (0..cp).map(|_| (next() % 20001) as i32 - 10000).collect();
            let m: Vec<i32> = (0..cp).map(|_| (1 << 30) + (next() % (1 << 30)) as i32).collect();
            // Shifts for the 64-bit form, the narrow one, or (every fourth case) either for each
            // vector of 16 lanes, so that a group of 64 channels mixes the forms.
            let wide: Vec<bool> = (0..cp / 16).map(|_| next().is_multiple_of(2)).collect();
            let shift: Vec<i32> = (0..cp)
                .map(|i| match case % 4 {
                    1 => 31,
                    3 if wide[i / 16] => 30 + (next() % 3) as i32,
                    _ => 36 + (next() % 8) as i32,
                })
                .collect();
            let lo = (next() % 100) as u8;
            let q = QConv {
                weight: &weight,
                bias: &bias,
                m: &m,
                shift: &shift,
                input_zero: (next() % 256) as i32,
                output_zero: (next() % 256) as i32,
                // Every fifth case the whole range, which the packs alone clamp to.
                clamp: if case % 5 == 2 { (0, 255) } else { (lo, lo + (next() % 156) as u8) },
            };
            let band = 1 + (next() % 4) as usize;
            let src: Vec<[Option<&[u8]>; 3]> = (0..band)
                .map(|r| {
                    let absent = (next() % 4) as usize; // 3: all present
                    core::array::from_fn(|ky| (ky != absent).then(|| &rows[(r + ky) % 5][..]))
                })
                .collect();
            let mut want = vec![0u8; band * wo * c];
            Plain.dw_band(&src, DwDims { w_in, c, stride, pad_l, taps }, &q, &mut want);
            let mut got = vec![0u8; band * wo * c];
            if avx2 {
                Avx2.dw_band(&src, DwDims { w_in, c, stride, pad_l, taps }, &q, &mut got);
                assert_eq!(got, want, "AVX2, case {case}: c {c} stride {stride} pad {pad_l} w_in {w_in}");
            }
            if avx2 && has_avx_vnni() {
                got.fill(0);
                AvxVnni.dw_band(&src, DwDims { w_in, c, stride, pad_l, taps }, &q, &mut got);
                assert_eq!(got, want, "AVX-VNNI, case {case}: c {c} stride {stride} pad {pad_l} w_in {w_in}");
            }
            if has_avx512_vnni() {
                got.fill(0);
                Vnni { amx: false }.dw_band(&src, DwDims { w_in, c, stride, pad_l, taps }, &q, &mut got);
                assert_eq!(got, want, "VNNI, case {case}: c {c} stride {stride} pad {pad_l} w_in {w_in} band {band}");
                // One row on its own.
                got.fill(0);
                Vnni { amx: false }.dw_band(&src[..1], DwDims { w_in, c, stride, pad_l, taps }, &q, &mut got[..wo * c]);
                assert_eq!(got[..wo * c], want[..wo * c], "VNNI row, case {case}");
            }
        }
    }
}
