//! 3x3 depthwise convolution, stride 1 or 2, BN folded, ReLU6 fused.

use super::{lit, rt, OpCtx};
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(ctx: &OpCtx<'_>, stride: usize) -> TokenStream {
    let rt = rt();
    let i = ctx.layer.input_shape;
    let (h, w, c, s) = (lit(i.h), lit(i.w), lit(i.c), lit(stride));
    quote!(#rt::depthwise::<#h, #w, #c, #s>(cpu, src, w, b, dst);)
}
