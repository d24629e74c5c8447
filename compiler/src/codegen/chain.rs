//! A chain of two fused blocks (`plan: memory`): one `par_chain` call, the first block's output
//! streamed to the second through a window of rows, never materialised in the arena.

use super::block::{bind, params, shape_name, stem_inspection};
use super::{inspect_stage, lit, rt, tensor_region};
use crate::ir::Value;
use crate::passes::fuse_blocks::Chain;
use crate::passes::Program;
use proc_macro2::TokenStream;
use quote::quote;

/// Step `step`, chain `c`; `std`: whether the runtime has `std` (for `forward_inspect`).
pub(crate) fn emit(program: &Program, step: usize, c: &Chain, std: bool) -> TokenStream {
    let rt = rt();
    let net = &program.network;
    let (first, second) = (&c.first, &c.second);
    let x = match first.input {
        Value::Tensor(t) => Some(tensor_region(program, t)),
        _ => None,
    };
    let y = tensor_region(program, second.output);
    let scratch = program.schedule.scratch_of(step).expect("a chain has scratch");
    let bind = bind(program, x, y, program.arena.placements[scratch].region());
    let (shape_a, shape_b) = (shape_name(program, &first.dims), shape_name(program, &second.dims));
    let (params_a, params_b) = (params(program, first), params(program, second));
    let chunk = lit(c.chunk);
    let (mid, last) = (&net.layers[first.project], &net.layers[second.project]);
    let comment = format!(
        "features.{}+{}: fused blocks {} -> {} -> {} chained{}, in chunks of {} rows",
        mid.stage.unwrap_or_default(),
        last.stage.unwrap_or_default(),
        net.layers[first.first()].input_shape,
        mid.output_shape,
        last.output_shape,
        if first.stem.is_some() { " (stem included)" } else { "" },
        c.chunk
    );
    // The tensor between the blocks never exists in full: recompute it (allocating) for the
    // inspector, which only `std` builds have.
    let inspect_first = std.then(|| {
        let stem = stem_inspection(program, first, std);
        let name = format!("features.{}", mid.stage.unwrap_or_default());
        let s = mid.output_shape;
        let (h, w, ch) = (lit(s.h), lit(s.w), lit(s.c));
        quote! {
            #stem
            if let ::core::option::Option::Some(f) = inspect.as_mut() {
                let mid = #rt::block_output(cpu, &<#shape_a as #rt::BlockShape>::DIMS, src, params_a);
                f(#name, [#h, #w, #ch], &mid);
            }
        }
    });
    let inspect = inspect_stage(last, Some(y));
    quote! {
        {
            #[doc = #comment]
            const _: () = ();
            #bind
            let (params_a, params_b) = (#params_a, #params_b);
            #inspect_first
            #rt::par_chain::<#shape_a, #shape_b, #chunk>(
                threads.as_deref_mut(), cpu, src, dst, params_a, params_b, scratch, extra, Self::__THREAD_SCRATCH_FLOATS,
            );
        }
        #inspect
    }
}
