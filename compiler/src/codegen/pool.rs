//! Global average pooling.

use super::{lit, rt};
use crate::ir::Layer;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(layer: &Layer) -> TokenStream {
    let rt = rt();
    let i = layer.input_shape;
    let (hw, c) = (lit(i.h * i.w), lit(i.c));
    quote!(#rt::avg_pool::<#hw, #c>(cpu, src, dst);)
}
