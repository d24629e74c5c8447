//! A fused inverted-residual block: [stem ->] [expand ->] depthwise -> project (+ shortcut) in
//! bands of output rows, with its ring and band buffers in the arena.

use super::{inspect_stage, lit, param_slices, region, rt, tensor_region};
use crate::ir::Value;
use crate::passes::fuse_blocks::{FusedBlock, Step};
use crate::passes::Program;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// The module holding a model's block shape types (one per model, beside its struct).
pub(crate) fn shapes_module(program: &Program) -> Ident {
    format_ident!("__mobilenet_shapes_{}", program.network.spec.name)
}

/// The first step whose block has the same shapes as the block at `step`: blocks of equal
/// shapes share one shape type, so their kernels are compiled once.
pub(crate) fn shape_owner(program: &Program, step: usize) -> usize {
    let dims = |k: usize| match &program.schedule.steps[k] {
        Step::Block(b) => Some(b.dims),
        Step::Layer(_) => None,
    };
    (0..=step).find(|&k| dims(k) == dims(step)).unwrap_or(step)
}

pub(crate) fn shape_name(program: &Program, step: usize) -> TokenStream {
    let (module, ty) = (shapes_module(program), format_ident!("Step{}", shape_owner(program, step)));
    quote!(#module::#ty)
}

/// The zero-sized type carrying the shapes of the block at `step`: kernels instantiated on it
/// see every shape as a constant. Defined once, used by `forward` and `forward_batch` alike.
pub(crate) fn shape_item(step: usize, b: &FusedBlock) -> TokenStream {
    let rt = rt();
    let d = b.dims;
    let (h, w, cin, hidden, cout, stride, expand, residual, band) =
        (lit(d.h), lit(d.w), lit(d.cin), lit(d.hidden), lit(d.cout), lit(d.stride), d.expand, d.residual, lit(d.band));
    let stem_dims = match d.stem {
        Some((ih, iw)) => {
            let (ih, iw) = (lit(ih), lit(iw));
            quote!(::core::option::Option::Some((#ih, #iw)))
        }
        None => quote!(::core::option::Option::None),
    };
    let padding = super::padding(d.padding);
    let ty = format_ident!("Step{step}");
    quote! {
        pub enum #ty {}
        impl #rt::BlockShape for #ty {
            const DIMS: #rt::BlockDims = #rt::BlockDims {
                h: #h, w: #w, cin: #cin, hidden: #hidden, cout: #cout, stride: #stride,
                expand: #expand, residual: #residual, band: #band, stem: #stem_dims, padding: #padding,
            };
        }
    }
}

/// The arena regions of the block at `step`: its input (`None`: the image), output and scratch.
pub(crate) fn regions(program: &Program, step: usize, b: &FusedBlock) -> RegionsOf {
    let x = match b.input {
        Value::Tensor(t) => Some(tensor_region(program, t)),
        _ => None,
    };
    let scratch = program.schedule.scratch_of(step).expect("a fused block has scratch");
    (x, tensor_region(program, b.output), program.arena.placements[scratch].region())
}

/// `(input, output, scratch)` regions, `(offset, len)` in floats.
pub(crate) type RegionsOf = (Option<(usize, usize)>, (usize, usize), (usize, usize));

/// The block's `BlockParams` (slices of the parameter buffer `p`).
pub(crate) fn params(program: &Program, b: &FusedBlock) -> TokenStream {
    let rt = rt();
    let slices = |layer: Option<usize>| match layer.and_then(|l| param_slices(program, l)) {
        Some((w, b)) => quote!(::core::option::Option::Some((#w, #b))),
        None => quote!(::core::option::Option::None),
    };
    let (stem_params, expand_params) = (slices(b.stem), slices(b.expand));
    let pair = |layer: usize| {
        let (w, b) = param_slices(program, layer).expect("convolutions have parameters");
        quote!((#w, #b))
    };
    let (dw_params, project_params) = (pair(b.depthwise), pair(b.project));
    quote! {
        #rt::BlockParams {
            stem: #stem_params,
            expand: #expand_params,
            depthwise: #dw_params,
            project: #project_params,
        }
    }
}

pub(crate) fn emit(program: &Program, step: usize, b: &FusedBlock) -> TokenStream {
    let rt = rt();
    let d = b.dims;
    let shape = shape_name(program, step);
    let (x, y_region, scratch) = regions(program, step, b);
    let (y, scratch) = (region(y_region), region(scratch));
    let bind = match x {
        Some(x) => {
            let x = region(x);
            quote!(let [src, dst, scratch] = #rt::split(a, [#x, #y, #scratch]); let src = &*src;)
        }
        None => match program.schedule.image_buffer() {
            Some(img) => {
                let img = region(program.arena.placements[img].region());
                quote! {
                    let [img, dst, scratch] = #rt::split(a, [#img, #y, #scratch]);
                    let src: &[f32] = if pixels.is_some() { &*img } else { input };
                }
            }
            None => quote!(let [dst, scratch] = #rt::split(a, [#y, #scratch]); let src = input;),
        },
    };
    let params = params(program, b);
    let net = &program.network;
    let project = &net.layers[b.project];
    let comment = format!(
        "features.{}: fused block {} -> {}{}, bands of {} rows",
        project.stage.unwrap_or_default(),
        net.layers[b.first()].input_shape,
        project.output_shape,
        if b.stem.is_some() { " (stem included)" } else { "" },
        d.band
    );
    // The fused plan never materialises the stem's output; recompute it for the inspector.
    let inspect_stem = b.stem.map(|l| {
        let stem = &net.layers[l];
        let (i, o) = (stem.input_shape, stem.output_shape);
        let (ih, iw, oh, ow, oc) = (lit(i.h), lit(i.w), lit(o.h), lit(o.w), lit(o.c));
        let (w, bias) = param_slices(program, l).expect("the stem has parameters");
        let name = format!("features.{}", stem.stage.unwrap_or_default());
        let padding = super::padding(d.padding);
        quote! {
            if let ::core::option::Option::Some(f) = inspect.as_mut() {
                let stem_out = #rt::stem_output(cpu, #ih, #iw, #oc, #padding, src, #w, #bias);
                f(#name, [#oh, #ow, #oc], &stem_out);
            }
        }
    });
    let inspect = inspect_stage(project, Some(y_region));
    quote! {
        {
            #[doc = #comment]
            #bind
            #inspect_stem
            let params = #params;
            #rt::par_block::<#shape>(threads.as_deref_mut(), cpu, src, dst, params, scratch, extra, Self::THREAD_SCRATCH_FLOATS);
        }
        #inspect
    }
}
