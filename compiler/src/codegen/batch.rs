//! `forward_batch`: the steps before `Program::batch_step_major_from` run image by image, the
//! rest step by step over the batch (see `passes::plan_batch`): fused blocks through
//! `block_batch` (weight panels outermost over groups of images), the classifier as one matrix
//! product over every image's features. Each image has its own copy of the memory plan. An
//! int8 model runs `forward`'s code (`run`) on each image in turn (its kernels have no batched
//! form yet), so the network's code is not compiled twice.

use super::{block, lit, param_slices, region, rt, tensor_region};
use crate::ir::{Op, Value};
use crate::passes::fuse_blocks::Step;
use crate::passes::Program;
use proc_macro2::TokenStream;
use quote::quote;

/// The methods `arena_batch` and `forward_batch`; `steps` is each step's code as `run` has it;
/// `int8`: the model is int8 (`forward_batch` runs `run` on each image).
pub(crate) fn emit(program: &Program, steps: &[TokenStream], int8: bool) -> TokenStream {
    let rt = rt();
    let net = &program.network;
    let name_str = net.spec.name.as_str();
    let arena_batch = quote! {
        /// An arena for `forward_batch` of up to `images` images (`ARENA_BYTES` each). Like any
        /// allocation, panics ("capacity overflow") past `isize::MAX` bytes, and aborts when
        /// memory runs out.
        pub fn arena_batch(images: usize) -> ::mobilenet_runtime::Arena {
            // Saturating: a debug build would otherwise stop at the product, a release build
            // wrap it to a small arena.
            ::mobilenet_runtime::Arena::new(Self::ARENA_BYTES.saturating_mul(::core::cmp::Ord::max(images, 1)), #name_str, Self::__MODEL_ID)
        }
    };
    // The doc's last lines: how the batch runs.
    let (how, body): (&[&str], _) = if int8 {
        // `run`'s parameter for 8-bit frames, where the model takes them; batches take floats.
        let no_pixels = program.schedule.image_buffer().map(|_| quote!(::core::option::Option::None,));
        let body = quote! {
            let parts = ::core::iter::Iterator::zip(all.chunks_exact_mut(Self::__ARENA_FLOATS), logits.chunks_exact_mut(Self::NUM_CLASSES));
            for (input, (a, logits)) in ::core::iter::Iterator::zip(inputs_hwc.chunks_exact(image), parts) {
                self.__run(a, cpu, input, #no_pixels logits, ::core::option::Option::None, ::core::option::Option::None)?;
            }
        };
        (
            &[
                " each image, bit for bit; an int8 model runs the images one after another. One",
                " thread; allocates nothing.",
            ],
            body,
        )
    } else {
        let how: &[&str] = &[
            " each image, bit for bit; the late, weight-heavy steps run over the whole batch so",
            " their weights are fetched from memory once per batch. One thread; allocates nothing.",
        ];
        (how, step_major(program, steps))
    };
    quote! {
        #arena_batch

        /// Classify a batch: `inputs_hwc` holds images one after another (each as `forward`
        /// takes it), `logits` gets `NUM_CLASSES` per image, in order; the arena must come from
        /// `arena_batch(n)` with `n` at least the batch size. The same logits as `forward` on
        #(#[doc = #how])*
        pub fn forward_batch(
            &self,
            arena: &mut ::mobilenet_runtime::Arena,
            inputs_hwc: &[f32],
            logits: &mut [f32],
        ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
            let image = Self::INPUT_HEIGHT * Self::INPUT_WIDTH * 3;
            let images = #rt::batch_size(inputs_hwc, image, logits, Self::NUM_CLASSES)?;
            let (all, cpu) = arena.parts_for(#name_str, Self::__MODEL_ID)?;
            let all = #rt::batch_arena(all, Self::__ARENA_FLOATS, images)?;
            #body
            ::core::result::Result::Ok(())
        }
    }
}

/// An f32 model's `forward_batch` after its prologue: the steps before the switch image by
/// image, the rest step by step over the batch.
fn step_major(program: &Program, steps: &[TokenStream]) -> TokenStream {
    let rt = rt();
    let net = &program.network;
    let split = program.batch_step_major_from.min(steps.len());
    let prefix = &steps[..split];
    // The first step of a model that takes 8-bit frames reads `pixels`; batches take floats.
    let no_pixels = program
        .schedule
        .image_buffer()
        .map(|_| quote!(let pixels: ::core::option::Option<&[u8]> = ::core::option::Option::None;));
    // Names each step's code expects, bound to image `i` of the batch.
    let per_image = quote! {
        let a = &mut all[i * Self::__ARENA_FLOATS..(i + 1) * Self::__ARENA_FLOATS];
        let input = &inputs_hwc[i * image..(i + 1) * image];
        let logits = &mut logits[i * Self::NUM_CLASSES..(i + 1) * Self::NUM_CLASSES];
        let _ = (&input, &logits);
        #no_pixels
    };
    let suffix = program.schedule.steps.iter().zip(steps).enumerate().skip(split).map(|(k, (step, code))| match step {
        Step::Layer(l) if net.layers[*l].op == Op::Linear => {
            let layer = &net.layers[*l];
            let Value::Tensor(t) = layer.input else { unreachable!("the classifier reads pooled features") };
            let offset = lit(tensor_region(program, t).0);
            let (k, n) = (lit(layer.input_shape.c), lit(layer.output_shape.c));
            let (w, b) = param_slices(program, *l).expect("the classifier has parameters");
            quote! {
                #rt::linear_batch::<#k, #n>(cpu, all, #offset, Self::__ARENA_FLOATS, images, #w, #b, logits);
            }
        }
        Step::Block(b) if b.input != Value::Image => {
            let (Some(x), y, scratch) = block::regions(program, k, b) else { unreachable!("the block reads a tensor") };
            let (x, y, scratch) = (region(x), region(y), region(scratch));
            let (shape, params) = (block::shape_name(program, &b.dims), block::params(program, b));
            quote! {
                #rt::block_batch::<#shape>(cpu, all, Self::__ARENA_FLOATS, images, #x, #y, #scratch, #params);
            }
        }
        _ => quote! {
            for i in 0..images {
                #per_image
                #code
            }
        },
    });
    quote! {
        let p: &[f32] = self.params.as_slice();
        let mut threads: ::core::option::Option<&mut ::mobilenet_runtime::Threads> = ::core::option::Option::None;
        let mut inspect: ::core::option::Option<&mut dyn ::core::ops::FnMut(&str, [usize; 3], &[f32])> =
            ::core::option::Option::None;
        let extra: &mut [f32] = &mut [];
        for i in 0..images {
            #per_image
            #(#prefix)*
        }
        #(#suffix)*
        let _ = (&mut inspect, &mut threads, &extra);
    }
}
