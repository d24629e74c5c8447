//! The classifier: a fully connected layer writing the caller's logits.

use super::{lit, rt, OpCtx};
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(ctx: &OpCtx<'_>) -> TokenStream {
    let rt = rt();
    let (k, n) = (lit(ctx.layer.input_shape.c), lit(ctx.layer.output_shape.c));
    quote!(#rt::par_linear::<#k, #n>(threads.as_deref_mut(), cpu, src, w, b, dst);)
}
