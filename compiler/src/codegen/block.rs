//! A fused inverted-residual block: [stem ->] [expand ->] depthwise -> project (+ shortcut) in
//! bands of output rows, with its ring and band buffers in the arena.

use super::{inspect_stage, lit, param_slices, region, rt, tensor_region};
use crate::ir::Value;
use crate::passes::fuse_blocks::{FusedBlock, Step};
use crate::passes::Program;
use mobilenet_kernels::BlockDims;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// The module holding a model's block shape types (inside the model's module, beside its struct).
pub(crate) fn shapes_module() -> Ident {
    format_ident!("__shapes")
}

/// Every block's shapes in schedule order, with the name of its shape type: `Step{k}` for the
/// block at step `k` (or the second block of the chain there), `Step{k}First` for a chain's
/// first block.
fn shape_slots(program: &Program) -> Vec<(BlockDims, Ident)> {
    let mut slots = Vec::new();
    for (k, step) in program.schedule.steps.iter().enumerate() {
        match step {
            Step::Block(b) => slots.push((b.dims, format_ident!("Step{k}"))),
            Step::Chain(c) => {
                slots.push((c.first.dims, format_ident!("Step{k}First")));
                slots.push((c.second.dims, format_ident!("Step{k}")));
            }
            Step::Layer(_) => {}
        }
    }
    slots
}

/// The shape type of a block with shapes `dims`: blocks of equal shapes share one, the first
/// one's, so their kernels are compiled once.
pub(crate) fn shape_name(program: &Program, dims: &BlockDims) -> TokenStream {
    let slots = shape_slots(program);
    let (_, ty) = slots.iter().find(|(d, _)| d == dims).expect("every block has a shape type");
    let module = shapes_module();
    quote!(#module::#ty)
}

/// The zero-sized types carrying the shapes of the blocks: kernels instantiated on them see
/// every shape as a constant. Defined once, used by `forward` and `forward_batch` alike.
pub(crate) fn shape_items(program: &Program) -> Vec<TokenStream> {
    let slots = shape_slots(program);
    let owners = slots.iter().enumerate().filter(|(i, (d, _))| slots.iter().position(|(e, _)| e == d) == Some(*i));
    owners.map(|(_, (d, ty))| shape_item(ty, d)).collect()
}

fn shape_item(ty: &Ident, d: &BlockDims) -> TokenStream {
    let rt = rt();
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

/// Step `step`, fused block `b`; `std`: whether the runtime has `std` (for `forward_inspect`).
pub(crate) fn emit(program: &Program, step: usize, b: &FusedBlock, std: bool) -> TokenStream {
    let rt = rt();
    let d = b.dims;
    let shape = shape_name(program, &d);
    let (x, y_region, scratch_region) = regions(program, step, b);
    let bind = bind(program, x, y_region, scratch_region);
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
    let inspect_stem = stem_inspection(program, b, std);
    let inspect = inspect_stage(project, Some(y_region));
    quote! {
        {
            #[doc = #comment]
            const _: () = ();
            #bind
            #inspect_stem
            let params = #params;
            #rt::par_block::<#shape>(threads.as_deref_mut(), cpu, src, dst, params, scratch, extra, Self::__THREAD_SCRATCH_FLOATS);
        }
        #inspect
    }
}

/// For a block with a fused stem, in `std` builds: the stem's output (which the fused plan
/// never materialises) recomputed, allocating, for `forward_inspect`. Reads `src`, the image.
pub(crate) fn stem_inspection(program: &Program, b: &FusedBlock, std: bool) -> Option<TokenStream> {
    let rt = rt();
    let net = &program.network;
    b.stem.filter(|_| std).map(|l| {
        let stem = &net.layers[l];
        let (i, o) = (stem.input_shape, stem.output_shape);
        let (ih, iw, oh, ow, oc) = (lit(i.h), lit(i.w), lit(o.h), lit(o.w), lit(o.c));
        let (w, bias) = param_slices(program, l).expect("the stem has parameters");
        let name = format!("features.{}", stem.stage.unwrap_or_default());
        let padding = super::padding(b.dims.padding);
        quote! {
            if let ::core::option::Option::Some(f) = inspect.as_mut() {
                let stem_out = #rt::stem_output(cpu, #ih, #iw, #oc, #padding, src, #w, #bias);
                f(#name, [#oh, #ow, #oc], &stem_out);
            }
        }
    })
}

/// `let [.., dst, scratch] = split(..)` and `src`, for a step that reads `x` (`None`: the image:
/// the staged 8-bit image when `pixels` was given, else the caller's floats) and writes `y`.
pub(crate) fn bind(
    program: &Program,
    x: Option<(usize, usize)>,
    y: (usize, usize),
    scratch: (usize, usize),
) -> TokenStream {
    let rt = rt();
    let (y, scratch) = (region(y), region(scratch));
    match x {
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
    }
}
