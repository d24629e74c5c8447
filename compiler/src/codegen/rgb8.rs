//! `forward_rgb8` for specs with `input: {format: rgb8, mean, std}`: 8-bit RGB frames are
//! normalised, `(x / 255 - mean) / std` as one multiply-add per value, into an arena buffer
//! the plan keeps for the first step only; that step then reads it in place of the caller's
//! floats. Normalising before the stem, rather than folding it into the stem's weights, keeps
//! one set of weights for `forward` and `forward_rgb8`, zero padding exact at the borders, and
//! the results equal to `forward` on the same normalised floats; the 8-bit values need a
//! conversion to f32 either way. An int8 model stages the image's levels instead: each
//! normalised value quantized as `forward` quantizes the caller's floats.

use super::{lit, rt};
use crate::passes::Program;
use crate::quantize::arith::QParams;
use crate::spec::InputFormat;
use proc_macro2::{Literal, TokenStream};
use quote::quote;

/// What an 8-bit model adds to the generated code.
pub(crate) struct Rgb8 {
    /// Normalises `pixels`, when given, into the staged image at the top of `run`.
    pub stage: TokenStream,
    /// `forward_rgb8`, `forward_parallel_rgb8`, `forward_rgb8_in` and the normalisation constants.
    pub methods: TokenStream,
}

/// `None` unless the spec's input format is `rgb8`; `int8`: the image's quantization, for an
/// int8 model.
pub(crate) fn emit(program: &Program, with_std: bool, int8: Option<QParams>) -> Option<Rgb8> {
    let spec = &program.network.spec;
    if spec.input.format != InputFormat::Rgb8 {
        return None;
    }
    let rt = rt();
    let img = program.schedule.image_buffer().expect("an rgb8 model stages its image");
    let (o, l) = program.arena.placements[img].region();
    let (o, e) = (lit(o), lit(o + l));
    let (mean, std) = (spec.input.mean, spec.input.std);
    let f = |v: f64| Literal::f32_suffixed(v as f32);
    let scale = (0..3).map(|c| f(1.0 / (255.0 * std[c])));
    let bias = (0..3).map(|c| f(-mean[c] / std[c]));
    let (mean_l, std_l) = (mean.map(f), std.map(f));
    let name_str = spec.name.as_str();
    let std_methods = with_std.then(|| {
        quote! {
            /// Classify one 8-bit RGB frame, `pixels_hwc` row-major height x width x 3 bytes,
            /// normalised inside as `(x / 255 - INPUT_MEAN) / INPUT_STD`. Allocates nothing.
            pub fn forward_rgb8(
                &self,
                arena: &mut ::mobilenet_runtime::Arena,
                pixels_hwc: &[u8],
                logits: &mut [f32],
            ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
                let (a, cpu) = arena.parts_for(#name_str, Self::__MODEL_ID)?;
                self.__run(a, cpu, &[], ::core::option::Option::Some(pixels_hwc), logits, ::core::option::Option::None, ::core::option::Option::None)
            }

            /// `forward_rgb8` with every step split across `threads`, as `forward_parallel`.
            pub fn forward_parallel_rgb8(
                &self,
                threads: &mut ::mobilenet_runtime::Threads,
                arena: &mut ::mobilenet_runtime::Arena,
                pixels_hwc: &[u8],
                logits: &mut [f32],
            ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
                let (a, cpu) = arena.parts_for(#name_str, Self::__MODEL_ID)?;
                self.__run(a, cpu, &[], ::core::option::Option::Some(pixels_hwc), logits, ::core::option::Option::Some(threads), ::core::option::Option::None)
            }
        }
    });
    let stage = match int8 {
        None => quote! {
            if let ::core::option::Option::Some(px) = pixels {
                #rt::normalize_rgb8(px, &Self::__RGB8_SCALE, &Self::__RGB8_BIAS, &mut a[#o..#e])?;
            }
        },
        Some(q) => {
            let (inv, zp) = (Literal::f32_suffixed(q.inverse_scale()), Literal::i32_unsuffixed(q.zero_point));
            quote! {
                if let ::core::option::Option::Some(px) = pixels {
                    #rt::quantize_rgb8(px, &Self::__RGB8_SCALE, &Self::__RGB8_BIAS, #inv, #zp, &mut a[#o..#e])?;
                }
            }
        }
    };
    let methods = quote! {
        /// Per-channel (R, G, B) mean `forward_rgb8` subtracts, in 0..1 units.
        pub const INPUT_MEAN: [f32; 3] = [#(#mean_l),*];
        /// Per-channel (R, G, B) standard deviation `forward_rgb8` divides by, in 0..1 units.
        pub const INPUT_STD: [f32; 3] = [#(#std_l),*];
        const __RGB8_SCALE: [f32; 3] = [#(#scale),*];
        const __RGB8_BIAS: [f32; 3] = [#(#bias),*];

        #std_methods

        /// `forward_rgb8` in a caller's buffer, as `forward_in`. Needs no `std`.
        pub fn forward_rgb8_in(
            &self,
            buffer: &mut [u8],
            pixels_hwc: &[u8],
            logits: &mut [f32],
        ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
            let a = #rt::buffer_floats(buffer, Self::__ARENA_FLOATS)?;
            self.__run(a, #rt::Cpu::detected(), &[], ::core::option::Option::Some(pixels_hwc), logits, ::core::option::Option::None, ::core::option::Option::None)
        }
    };
    Some(Rgb8 { stage, methods })
}
