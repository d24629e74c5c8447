//! The stem: 3x3 stride-2 convolution of the image with BN folded and ReLU6 fused.

use super::{lit, rt};
use crate::ir::Layer;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(layer: &Layer) -> TokenStream {
    let rt = rt();
    let i = layer.input_shape;
    let (h, w, co) = (lit(i.h), lit(i.w), lit(layer.output_shape.c));
    quote!(#rt::par_stem::<#h, #w, #co>(threads.as_deref_mut(), cpu, src, w, b, dst);)
}
