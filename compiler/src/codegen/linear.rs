//! The classifier: a fully connected layer writing the caller's logits.

use super::{lit, rt};
use crate::ir::Layer;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(layer: &Layer) -> TokenStream {
    let rt = rt();
    let (k, n) = (lit(layer.input_shape.c), lit(layer.output_shape.c));
    quote!(#rt::par_linear::<#k, #n>(threads.as_deref_mut(), cpu, src, w, b, dst);)
}
