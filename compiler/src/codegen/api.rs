//! The model type's methods and items that do not depend on its schedule: the files cargo
//! tracks, the baked-weights constructor, and the `std` entry points (`from_safetensors`,
//! `arena`, `arena_for`, `forward`, `forward_parallel`, `forward_inspect`).

use super::{lit, rt, Baked, Tracked};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

/// `const _` items including every file the macro read, so that cargo rebuilds the user's crate
/// when one changes.
pub(super) fn track_files(tracked: &Tracked) -> TokenStream {
    let files =
        [(&tracked.spec, false), (&tracked.weights, true), (&tracked.labels, false), (&tracked.calibration, true)];
    let items = files.into_iter().filter_map(|(path, binary)| {
        let p = path.as_ref()?.to_string_lossy().into_owned();
        Some(if binary {
            quote!(
                const _: &[u8] = ::core::include_bytes!(#p);
            )
        } else {
            quote!(
                const _: &str = ::core::include_str!(#p);
            )
        })
    });
    quote!(#(#items)*)
}

/// `new()`, on the weights baked in at compile time.
pub(super) fn baked_ctor(name: &Ident, baked: Baked<'_>) -> TokenStream {
    let rt = rt();
    let bytes: Vec<u8> = match baked {
        Baked::F32(floats) => floats.iter().flat_map(|f| f.to_le_bytes()).collect(),
        Baked::Int8(q) => q.packed.blob.clone(),
    };
    let what = match baked {
        Baked::F32(_) => "The model with the weights named in its spec, folded and packed at compile time.",
        Baked::Int8(_) => "The model with the weights named in its spec, quantized to int8 at compile time.",
    };
    let n = lit(bytes.len());
    let data = Literal::byte_string(&bytes);
    quote! {
        #[doc = #what]
        pub fn new() -> Self {
            static BAKED: #rt::Aligned<[u8; #n]> = #rt::Aligned(*#data);
            #name { params: #rt::Params::baked(&BAKED.0) }
        }
    }
}

/// The methods that need the runtime's `std` feature; `pixels_none` is the `run` argument of a
/// model that also takes 8-bit frames, `batch` the `forward_batch` methods.
pub(super) fn std_methods(
    name: &Ident,
    int8: bool,
    pixels_none: Option<&TokenStream>,
    batch: Option<TokenStream>,
) -> TokenStream {
    let rt = rt();
    let name_str = name.to_string();
    // An int8 model's activation ranges were calibrated for its baked weights: other weights
    // would need calibrating again, so it loads none at run time.
    let from_safetensors = (!int8).then(|| {
        quote! {
            /// Load a torchvision `state_dict` (safetensors; f32, f16 or bf16), fold BatchNorm and
            /// pack the weights for the kernels.
            pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, ::mobilenet_runtime::Error> {
                let params = #rt::load_params(bytes, Self::__LAYERS, Self::__PARAM_FLOATS, Self::__BN_EPS)?;
                ::core::result::Result::Ok(#name { params: #rt::Params::owned(params) })
            }
        }
    });
    let inspect_doc = if int8 {
        quote! {
            /// `forward`, calling `inspect(stage, [h, w, c], data)` with the output of every
            /// `features.N` stage (HWC), dequantized from its int8 levels, for debugging against
            /// another implementation. Stages the plan never materialises (the stem's output) are
            /// recomputed into temporary buffers, so unlike `forward` this allocates.
        }
    } else {
        quote! {
            /// `forward`, calling `inspect(stage, [h, w, c], data)` with the output of every
            /// `features.N` stage (HWC), for debugging against another implementation. Stages the
            /// plan never materialises (the stem's output; a chain's first block's) are recomputed
            /// into temporary buffers, so unlike `forward` this may allocate.
        }
    };
    quote! {
        #from_safetensors

        /// Allocate the activation arena (`ARENA_BYTES`) once; `forward` reuses it.
        pub fn arena() -> ::mobilenet_runtime::Arena {
            ::mobilenet_runtime::Arena::new(Self::ARENA_BYTES, #name_str, Self::__MODEL_ID)
        }

        /// An arena for `forward_parallel` on `threads`: the plan plus scratch per extra thread.
        pub fn arena_for(threads: &::mobilenet_runtime::Threads) -> ::mobilenet_runtime::Arena {
            let extra = (threads.count() - 1) * Self::THREAD_SCRATCH_BYTES;
            ::mobilenet_runtime::Arena::new(Self::ARENA_BYTES + extra, #name_str, Self::__MODEL_ID)
        }

        /// Classify one normalised image, `input_hwc` row-major height x width x 3, writing
        /// `NUM_CLASSES` logits. Allocates nothing.
        pub fn forward(
            &self,
            arena: &mut ::mobilenet_runtime::Arena,
            input_hwc: &[f32],
            logits: &mut [f32],
        ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
            let (a, cpu) = arena.parts_for(#name_str, Self::__MODEL_ID)?;
            self.__run(a, cpu, input_hwc, #pixels_none logits, ::core::option::Option::None, ::core::option::Option::None)
        }

        /// `forward` with every step split across `threads` (the calling thread is one of
        /// them): by rows, or by output channels for the late, narrow blocks. The arena must
        /// come from `arena_for(threads)`. Allocates nothing.
        pub fn forward_parallel(
            &self,
            threads: &mut ::mobilenet_runtime::Threads,
            arena: &mut ::mobilenet_runtime::Arena,
            input_hwc: &[f32],
            logits: &mut [f32],
        ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
            let (a, cpu) = arena.parts_for(#name_str, Self::__MODEL_ID)?;
            self.__run(a, cpu, input_hwc, #pixels_none logits, ::core::option::Option::Some(threads), ::core::option::Option::None)
        }

        #batch

        #inspect_doc
        pub fn forward_inspect(
            &self,
            arena: &mut ::mobilenet_runtime::Arena,
            input_hwc: &[f32],
            logits: &mut [f32],
            inspect: &mut dyn ::core::ops::FnMut(&str, [usize; 3], &[f32]),
        ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
            let (a, cpu) = arena.parts_for(#name_str, Self::__MODEL_ID)?;
            self.__run(a, cpu, input_hwc, #pixels_none logits, ::core::option::Option::None, ::core::option::Option::Some(inspect))
        }
    }
}
