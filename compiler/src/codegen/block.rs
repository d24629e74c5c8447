//! A fused inverted-residual block: expand -> depthwise -> project (+ shortcut) in bands of
//! output rows, with its ring and band buffers in the arena.

use super::{inspect_stage, lit, param_slices, region, rt, tensor_region};
use crate::passes::fuse_blocks::FusedBlock;
use crate::passes::Program;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn emit(program: &Program, step: usize, b: &FusedBlock) -> TokenStream {
    let rt = rt();
    let d = b.dims;
    let (h, w, cin, hidden, cout, stride, expand, residual, band) =
        (lit(d.h), lit(d.w), lit(d.cin), lit(d.hidden), lit(d.cout), lit(d.stride), d.expand, d.residual, lit(d.band));
    let x = region(tensor_region(program, b.input));
    let y_region = tensor_region(program, b.output);
    let y = region(y_region);
    let scratch_buf = program.schedule.scratch_of(step).expect("a fused block has scratch");
    let scratch = region(program.arena.placements[scratch_buf].region());
    let slices = |layer: usize| {
        let (w, b) = param_slices(program, layer).expect("convolutions have parameters");
        quote!((#w, #b))
    };
    let expand_params = match b.expand() {
        Some(l) => {
            let s = slices(l);
            quote!(::core::option::Option::Some(#s))
        }
        None => quote!(::core::option::Option::None),
    };
    let (dw_params, project_params) = (slices(b.depthwise()), slices(b.project()));
    let project = &program.network.layers[b.project()];
    let comment = format!(
        "{}: fused block {} -> {}, bands of {} rows",
        project.conv.as_deref().unwrap_or_default().trim_end_matches(|c: char| c.is_ascii_digit() || c == '.'),
        program.network.layers[b.layers[0]].input_shape,
        project.output_shape,
        d.band
    );
    let inspect = inspect_stage(project, Some(y_region));
    quote! {
        {
            #[doc = #comment]
            const D: #rt::BlockDims = #rt::BlockDims {
                h: #h, w: #w, cin: #cin, hidden: #hidden, cout: #cout, stride: #stride,
                expand: #expand, residual: #residual, band: #band,
            };
            let [src, dst, scratch] = #rt::split(a, [#x, #y, #scratch]);
            let params = #rt::BlockParams { expand: #expand_params, depthwise: #dw_params, project: #project_params };
            #rt::par_block(threads.as_deref_mut(), cpu, &D, src, dst, params, scratch, extra, Self::THREAD_SCRATCH_FLOATS);
        }
        #inspect
    }
}
