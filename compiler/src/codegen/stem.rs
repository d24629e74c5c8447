//! The stem: 3x3 stride-2 convolution of the image with BN folded and ReLU6 fused.

use super::{lit, rt};
use crate::ir::Layer;
use crate::spec::Padding;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(layer: &Layer, padding: Padding) -> TokenStream {
    let rt = rt();
    let i = layer.input_shape;
    let (h, w, co) = (lit(i.h), lit(i.w), lit(layer.output_shape.c));
    let tf = padding == Padding::Tf;
    quote!(#rt::par_stem::<#h, #w, #co, #tf>(threads.as_deref_mut(), cpu, src, w, b, dst);)
}
