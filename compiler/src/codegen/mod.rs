//! Code generation: the model type, its constants, constructors and a `forward` that is a
//! straight line of shape-constant kernel calls over fixed arena regions. One file per op.

mod api;
mod batch;
mod block;
mod chain;
mod int8;
mod linear;
mod pointwise;
mod pool;
mod rgb8;
mod stem;

use crate::ir::{Layer, Op, TensorId, Value};
use crate::passes::fuse_blocks::Step;
use crate::passes::layout_params::ParamEntry;
use crate::passes::Program;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use std::path::PathBuf;

pub use int8::Int8;

/// Weights baked into the model: f32 (folded, packed), or an int8 quantization.
#[derive(Clone, Copy)]
pub enum Baked<'a> {
    F32(&'a [f32]),
    Int8(Int8<'a>),
}

/// Files the macro read: cargo rebuilds the user's crate when they change.
#[derive(Clone, Debug, Default)]
pub struct Tracked {
    pub spec: Option<PathBuf>,
    pub weights: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub calibration: Option<PathBuf>,
}

/// What the generated code may use of the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The runtime has its `std` feature (heap arenas, threads, weight loading). Without it only
    /// baked weights, `forward_in` and `forward_rgb8_in` are generated.
    pub std: bool,
}

impl Target {
    pub const STD: Target = Target { std: true };
    pub const NO_STD: Target = Target { std: false };
}

/// Path through which generated code reaches the runtime.
fn rt() -> TokenStream {
    quote!(::mobilenet_runtime::__private)
}

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

fn region((offset, len): (usize, usize)) -> TokenStream {
    let (o, l) = (lit(offset), lit(len));
    quote!((#o, #l))
}

/// Generate the model for `program`; `baked` holds the weights for `new()` (folded and packed,
/// or quantized: then the model runs int8), `labels` the class names of the spec's labels file.
pub fn generate(
    program: &Program,
    baked: Option<Baked<'_>>,
    labels: Option<&[String]>,
    tracked: &Tracked,
    target: Target,
) -> TokenStream {
    let rt = rt();
    let net = &program.network;
    let spec = &net.spec;
    let name = format_ident!("{}", spec.name);
    let name_str = spec.name.as_str();
    let (h, w) = (lit(net.input.h), lit(net.input.w));
    let classes = lit(spec.num_classes);
    let int8 = match baked {
        Some(Baked::Int8(q)) => Some(q),
        _ => None,
    };
    // An int8 plan is in bytes; the arena and the thread scratch stay whole floats.
    let (arena_floats, scratch_floats) = match int8 {
        Some(_) => (program.arena.int8_bytes() / 4, program.schedule.thread_scratch_len().div_ceil(4)),
        None => (program.arena.size, program.schedule.thread_scratch_len()),
    };
    let arena_bytes_n = arena_floats * 4;
    let arena_bytes = lit(arena_bytes_n);
    let params = lit(net.torch_params());
    let macs = Literal::u64_unsuffixed(net.macs());
    let param_floats = lit(program.params.total);
    let thread_scratch = lit(scratch_floats);
    let arena_floats = lit(arena_floats);
    let id = Literal::u64_unsuffixed(model_id(program));
    let bn_eps = Literal::f64_suffixed(spec.bn_eps);
    let layer_descs = program.params.entries.iter().map(param_desc);
    let body: Vec<TokenStream> = program
        .schedule
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| match step {
            _ if int8.is_some() => int8.expect("int8").step(program, k, step, target.std),
            Step::Layer(i) => layer_code(program, *i, &net.layers[*i]),
            Step::Block(b) => block::emit(program, k, b, target.std),
            Step::Chain(c) => chain::emit(program, k, c, target.std),
        })
        .collect();

    let batch = target.std.then(|| batch::emit(program, &body, int8.is_some()));
    let shapes_mod = block::shapes_module();
    let shape_items = block::shape_items(program);
    let track_files = api::track_files(tracked);
    let labels_const = labels.map(|names| {
        quote! {
            /// Class names, from the spec's `labels` file: `LABELS[i]` names logit `i`.
            pub const LABELS: [&'static str; #classes] = [#(#names),*];
        }
    });
    let padding_const = padding(spec.padding);
    let rgb8 = rgb8::emit(program, target.std, int8.map(|q| q.q.image));
    let pixels_param = rgb8.is_some().then(|| quote!(pixels: ::core::option::Option<&[u8]>,));
    let pixels_none = rgb8.is_some().then(|| quote!(::core::option::Option::None,));
    let check_input = if rgb8.is_some() {
        quote! {
            match pixels {
                ::core::option::Option::Some(_) => #rt::check_logits(logits, Self::NUM_CLASSES)?,
                ::core::option::Option::None => #rt::check_lengths(input, Self::INPUT_HEIGHT * Self::INPUT_WIDTH * 3, logits, Self::NUM_CLASSES)?,
            }
        }
    } else {
        quote!(#rt::check_lengths(input, Self::INPUT_HEIGHT * Self::INPUT_WIDTH * 3, logits, Self::NUM_CLASSES)?;)
    };
    let stage_pixels = rgb8.as_ref().map(|r| r.stage.clone());
    let rgb8_methods = rgb8.map(|r| r.methods);
    let baked_ctor = baked.map(|baked| api::baked_ctor(&name, baked));
    let default_impl = baked.is_some().then(|| {
        quote! {
            impl ::core::default::Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    });
    // Without an allocator the weights must be baked in: say so rather than leave a type
    // nothing can construct.
    let no_ctor = (baked.is_none() && !target.std).then(|| {
        let msg = format!(
            "spec `{name_str}` names no `weights`: without the runtime's `std` feature a model can only use weights baked in at compile time; add `weights: FILE.safetensors` to the spec"
        );
        quote!(::core::compile_error!(#msg);)
    });
    let param_floats_const = int8.is_none().then(|| quote!(const __PARAM_FLOATS: usize = #param_floats;));
    let loader_consts = int8.is_none().then(|| {
        quote! {
            const __BN_EPS: f64 = #bn_eps;
            const __LAYERS: &'static [#rt::ParamLayer<'static>] = &[#(#layer_descs),*];
        }
    });
    let std_methods = target.std.then(|| api::std_methods(&name, int8.is_some(), pixels_none.as_ref(), batch));
    let doc = format!(
        "MobileNetV2 `{name_str}` compiled from its spec: {}x{}x3 input, {} classes, {} parameters, {} MACs, {} arena bytes{}.",
        net.input.h,
        net.input.w,
        spec.num_classes,
        net.torch_params(),
        net.macs(),
        arena_bytes_n,
        if int8.is_some() { ", int8 (quantized at build time; f32 in and out)" } else { "" }
    );
    // The int8 blob's i32 arrays are read in place: little-endian only. Baked f32 weights are
    // too without `std` (which converts them once on big-endian targets).
    let endian_guard = if int8.is_some() {
        Some(format!("spec `{name_str}`: int8 models run on little-endian targets only"))
    } else {
        (baked.is_some() && !target.std).then(|| {
            format!("spec `{name_str}`: baked weights without `std` need a little-endian target (or the runtime's `std` feature)")
        })
    }
    .map(|msg| {
        quote! {
            #[cfg(target_endian = "big")]
            ::core::compile_error!(#msg);
        }
    });
    let (param_view, arena_view) = match int8 {
        Some(_) => (
            quote!(let p: &[u8] = self.params.as_bytes();),
            quote!(let (a, extra) = (#rt::bytes_mut(a), #rt::bytes_mut(extra));),
        ),
        None => (quote!(let p: &[f32] = self.params.as_slice();), quote!()),
    };

    // Everything lives in a module of its own, re-exported: inside it no name of the caller's
    // module is in scope, so a user's lowercase `const a` or `static input` cannot turn one of
    // the generated locals or parameters into a constant pattern (hygiene does not cover items).
    let model_mod = format_ident!("__mobilenet_{}", name_str);
    quote! {
        #track_files
        #no_ctor
        #endian_guard

        pub use #model_mod::#name;

        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #model_mod {
            /// Shapes of the fused blocks of the model below, as types.
            mod #shapes_mod {
                #(#shape_items)*
            }

            #[doc = #doc]
            #[derive(::core::clone::Clone, ::core::fmt::Debug)]
            pub struct #name {
                params: #rt::Params,
            }

            #default_impl

            #[allow(clippy::all)]
            impl #name {
                /// Input height in pixels.
                pub const INPUT_HEIGHT: usize = #h;
                /// Input width in pixels.
                pub const INPUT_WIDTH: usize = #w;
                /// Input channels (RGB).
                pub const INPUT_CHANNELS: usize = 3;
                /// Number of logits `forward` writes.
                pub const NUM_CLASSES: usize = #classes;
                /// Size of the compile-time memory plan: the arena `forward` runs in.
                pub const ARENA_BYTES: usize = #arena_bytes;
                /// Parameters as torchvision counts them (BatchNorm included).
                pub const PARAMETERS: usize = #params;
                /// Multiply-accumulates of one forward pass.
                pub const MACS: u64 = #macs;
                /// Where the 3x3 convolutions' zero padding goes: `Tf` for models trained by
                /// TensorFlow/Keras, `Torch` for PyTorch (and so how images were prepared for training).
                pub const PADDING: ::mobilenet_runtime::Padding = #padding_const;
                #labels_const
                /// Scratch each thread beyond the first needs in `forward_parallel`.
                pub const THREAD_SCRATCH_BYTES: usize = Self::__THREAD_SCRATCH_FLOATS * 4;
                const __THREAD_SCRATCH_FLOATS: usize = #thread_scratch;
                const __ARENA_FLOATS: usize = #arena_floats;
                #param_floats_const
                const __MODEL_ID: u64 = #id;
                #loader_consts

                #baked_ctor

                #std_methods

                /// `forward` in a buffer the caller provides: at least `ARENA_BYTES` bytes, starting on
                /// a 4-byte boundary (`ArenaBuffer<{ ARENA_BYTES }>` is both, 64-byte aligned); `Err`
                /// otherwise. One thread, kernels for the best ISA this CPU runs (without `std`: that
                /// the compile target guarantees). Allocates nothing; needs no `std`.
                pub fn forward_in(
                    &self,
                    buffer: &mut [u8],
                    input_hwc: &[f32],
                    logits: &mut [f32],
                ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
                    let a = #rt::buffer_floats(buffer, Self::__ARENA_FLOATS)?;
                    self.__run(a, #rt::Cpu::detected(), input_hwc, #pixels_none logits, ::core::option::Option::None, ::core::option::Option::None)
                }

                #rgb8_methods

                fn __run(
                    &self,
                    a: &mut [f32],
                    cpu: #rt::Cpu,
                    input: &[f32],
                    #pixels_param
                    logits: &mut [f32],
                    mut threads: ::core::option::Option<&mut #rt::Threads>,
                    mut inspect: ::core::option::Option<&mut dyn ::core::ops::FnMut(&str, [usize; 3], &[f32])>,
                ) -> ::core::result::Result<(), ::mobilenet_runtime::Error> {
                    #check_input
                    let count = threads.as_ref().map_or(1, |t| t.count());
                    let (a, extra) = #rt::split_thread_scratch(a, Self::__ARENA_FLOATS, Self::__THREAD_SCRATCH_FLOATS, count)?;
                    #arena_view
                    #stage_pixels
                    #param_view
                    #(#body)*
                    let _ = (&mut inspect, &mut threads, &extra);
                    ::core::result::Result::Ok(())
                }
            }
        }
    }
}

/// `Padding` as a runtime path.
pub(crate) fn padding(p: crate::spec::Padding) -> TokenStream {
    let rt = rt();
    match p {
        crate::spec::Padding::Torch => quote!(#rt::Padding::Torch),
        crate::spec::Padding::Tf => quote!(#rt::Padding::Tf),
    }
}

fn param_desc(e: &ParamEntry) -> TokenStream {
    let rt = rt();
    let conv = &e.conv;
    let bn = match &e.bn {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let kind = match e.kind {
        mobilenet_kernels::ParamKind::Stem { cout } => {
            let c = lit(cout);
            quote!(#rt::ParamKind::Stem { cout: #c })
        }
        mobilenet_kernels::ParamKind::Pointwise { cin, cout } => {
            let (i, o) = (lit(cin), lit(cout));
            quote!(#rt::ParamKind::Pointwise { cin: #i, cout: #o })
        }
        mobilenet_kernels::ParamKind::Depthwise { channels } => {
            let c = lit(channels);
            quote!(#rt::ParamKind::Depthwise { channels: #c })
        }
        mobilenet_kernels::ParamKind::Linear { cin, cout } => {
            let (i, o) = (lit(cin), lit(cout));
            quote!(#rt::ParamKind::Linear { cin: #i, cout: #o })
        }
    };
    let offset = lit(e.offset);
    quote!(#rt::ParamLayer { conv: #conv, bn: #bn, kind: #kind, offset: #offset })
}

/// The arena region of tensor `t` in the fused schedule's plan.
pub(crate) fn tensor_region(program: &Program, t: TensorId) -> (usize, usize) {
    let b = program.schedule.buffer_of(t).expect("every materialised tensor has a buffer");
    program.arena.placements[b].region()
}

/// `let (w, b) = ...;` for a layer's packed weights and bias.
pub(crate) fn param_slices(program: &Program, layer: usize) -> Option<(TokenStream, TokenStream)> {
    program.params.for_layer(layer).map(|e| {
        let ((wo, wl), (bo, bl)) = (e.weights(), e.bias());
        let (w0, w1, b0, b1) = (lit(wo), lit(wo + wl), lit(bo), lit(bo + bl));
        (quote!(&p[#w0..#w1]), quote!(&p[#b0..#b1]))
    })
}

/// Report a finished `features.N` stage to `inspect`.
pub(crate) fn inspect_stage(layer: &Layer, region: Option<(usize, usize)>) -> TokenStream {
    inspect_stage_as(layer, region, |data| quote!(&#data))
}

/// `inspect_stage`, passing `view(a[region])` (an int8 model dequantizes its levels).
pub(crate) fn inspect_stage_as(
    layer: &Layer,
    region: Option<(usize, usize)>,
    view: impl FnOnce(TokenStream) -> TokenStream,
) -> TokenStream {
    match (layer.stage, region) {
        (Some(stage), Some((o, l))) => {
            let name = format!("features.{stage}");
            let s = layer.output_shape;
            let (sh, sw, sc) = (lit(s.h), lit(s.w), lit(s.c));
            let (o, e) = (lit(o), lit(o + l));
            let data = view(quote!(a[#o..#e]));
            quote! {
                if let ::core::option::Option::Some(f) = inspect.as_mut() {
                    f(#name, [#sh, #sw, #sc], #data);
                }
            }
        }
        _ => quote!(),
    }
}

/// The doc comment naming unfused layer `index` in the generated code (`suffix` after it).
pub(crate) fn layer_comment(index: usize, layer: &Layer, suffix: &str) -> String {
    format!(
        "layer {index}: {} {} {} -> {}{suffix}",
        layer.conv.as_deref().unwrap_or("pool"),
        layer.kind_name(),
        layer.input_shape,
        layer.output_shape
    )
}

/// One unfused layer: bind its operands, call its kernel, report a finished stage.
fn layer_code(program: &Program, index: usize, layer: &Layer) -> TokenStream {
    let rt = rt();
    let tensor = |v: Value| match v {
        Value::Tensor(t) => Some(tensor_region(program, t)),
        _ => None,
    };
    let (src, dst, res) =
        (tensor(layer.input), tensor(layer.output), layer.residual.map(|t| tensor_region(program, t)));
    let bind = match (src, dst, res) {
        (Some(s), Some(d), Some(r)) => {
            let (s, r, d) = (region(s), region(r), region(d));
            quote!(let [src, res, dst] = #rt::split(a, [#s, #r, #d]); let (src, res) = (&*src, &*res);)
        }
        (Some(s), Some(d), None) => {
            let (s, d) = (region(s), region(d));
            quote!(let [src, dst] = #rt::split(a, [#s, #d]); let src = &*src;)
        }
        (None, Some(d), _) => match program.schedule.image_buffer() {
            Some(img) => {
                let (img, d) = (region(program.arena.placements[img].region()), region(d));
                quote! {
                    let [img, dst] = #rt::split(a, [#img, #d]);
                    let src: &[f32] = if pixels.is_some() { &*img } else { input };
                }
            }
            None => {
                let (o, e) = (lit(d.0), lit(d.0 + d.1));
                quote!(let (src, dst) = (input, &mut a[#o..#e]);)
            }
        },
        (Some((o, l)), None, _) => {
            let (o, e) = (lit(o), lit(o + l));
            quote!(let (src, dst) = (&a[#o..#e], &mut *logits);)
        }
        (None, None, _) => quote!(let (src, dst) = (input, &mut *logits);),
    };
    let params = param_slices(program, index).map(|(w, b)| quote!(let (w, b) = (#w, #b);));
    // Each emitter's call uses the names bound above: `src`, `dst`, `w`, `b` and `res`.
    let call = match layer.op {
        Op::Stem => stem::emit(layer, program.network.spec.padding),
        Op::Pointwise { relu } => pointwise::emit(layer, relu),
        Op::Depthwise { .. } => unreachable!("`passes::compile` rejects a depthwise layer outside a fused block"),
        Op::AvgPool => pool::emit(layer),
        Op::Linear => linear::emit(layer),
    };
    let inspect = inspect_stage(layer, dst);
    let comment = layer_comment(index, layer, "");
    quote! {
        {
            #[doc = #comment]
            const _: () = ();
            #bind
            #params
            #call
        }
        #inspect
    }
}

/// Identifies the model's memory plan, so an arena of another model is refused.
fn model_id(program: &Program) -> u64 {
    let text = format!("{:?}{:?}", program.network.layers, program.arena);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in program.network.spec.name.bytes().chain(text.bytes()) {
        h = (h ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}
