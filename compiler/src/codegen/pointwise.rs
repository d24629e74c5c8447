//! 1x1 convolutions (expand, project, last): a GEMM over pixels with bias, optional ReLU6 and
//! the inverted-residual shortcut fused into its epilogue.

use super::{lit, rt, OpCtx};
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(ctx: &OpCtx<'_>, relu: bool) -> TokenStream {
    let rt = rt();
    let (i, o) = (ctx.layer.input_shape, ctx.layer.output_shape);
    let (p, k, n) = (lit(i.h * i.w), lit(i.c), lit(o.c));
    let res = match ctx.layer.residual {
        Some(_) => quote!(::core::option::Option::Some(res)),
        None => quote!(::core::option::Option::None),
    };
    quote!(#rt::par_pointwise::<#p, #k, #n, #relu>(threads.as_deref_mut(), cpu, src, w, b, #res, dst);)
}
