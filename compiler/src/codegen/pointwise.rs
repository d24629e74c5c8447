//! 1x1 convolutions outside a fused block: a GEMM over pixels with bias, optional ReLU6 and a
//! shortcut fused into its epilogue. Every expand and project runs inside its block
//! (`block.rs`), so of the networks a spec describes only the last 1x1 conv reaches this.

use super::{lit, rt};
use crate::ir::Layer;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(layer: &Layer, relu: bool) -> TokenStream {
    let rt = rt();
    let (i, o) = (layer.input_shape, layer.output_shape);
    let (p, k, n) = (lit(i.h * i.w), lit(i.c), lit(o.c));
    let res = match layer.residual {
        Some(_) => quote!(::core::option::Option::Some(res)),
        None => quote!(::core::option::Option::None),
    };
    quote!(#rt::par_pointwise::<#p, #k, #n, #relu>(threads.as_deref_mut(), cpu, src, w, b, #res, dst);)
}
