//! An int8 model's steps (`precision: int8`): the f32 schedule and memory plan, in bytes, with
//! the int8 kernels (`mobilenet_kernels::int8`) reading the packed parameter blob `p`. Each
//! step's code uses the names `run` binds: `a` (the arena's bytes), `extra` (other threads'
//! scratch, bytes), `p`, `cpu`, `threads`, `input`, `pixels`, `logits` and `inspect`.

use super::{block, lit, region, rt, tensor_region};
use crate::ir::{Op, Value};
use crate::passes::fuse_blocks::{FusedBlock, Step};
use crate::passes::Program;
use crate::quantize::pack::{Packed, PackedLayer, Span};
use crate::quantize::{QuantizedNetwork, Requant};
use proc_macro2::{Literal, TokenStream};
use quote::quote;

/// A quantized model and its packed parameters.
#[derive(Clone, Copy)]
pub struct Int8<'a> {
    pub q: &'a QuantizedNetwork,
    pub packed: &'a Packed,
}

fn bytes((o, l): Span) -> TokenStream {
    let (o, e) = (lit(o), lit(o + l));
    quote!(&p[#o..#e])
}

fn i32_lit(v: i32) -> Literal {
    Literal::i32_unsuffixed(v)
}

impl Int8<'_> {
    fn packed(&self, layer: usize) -> &PackedLayer {
        self.packed.layers[layer].as_ref().expect("a convolution has parameters")
    }

    /// `QConv` of convolution `layer`.
    fn conv(&self, layer: usize) -> TokenStream {
        let rt = rt();
        let (p, ql) = (self.packed(layer), &self.q.layers[layer]);
        let Requant::Levels { output, clamp: (lo, hi), .. } = &ql.requant else {
            unreachable!("a convolution requantizes to levels")
        };
        let (w, b, m, s) = (bytes(p.weight), bytes(p.bias), bytes(p.m), bytes(p.shift));
        let (zi, zo) = (i32_lit(ql.input.zero_point), i32_lit(output.zero_point));
        let (lo, hi) = (Literal::u8_unsuffixed(*lo), Literal::u8_unsuffixed(*hi));
        quote! {
            #rt::QConv {
                weight: #rt::i8s(#w), bias: #rt::i32s(#b), m: #rt::i32s(#m), shift: #rt::i32s(#s),
                input_zero: #zi, output_zero: #zo, clamp: (#lo, #hi),
            }
        }
    }

    /// `Option<QShortcut>` of projection `layer`.
    fn shortcut(&self, layer: usize) -> TokenStream {
        let rt = rt();
        match (&self.q.layers[layer].requant, self.packed(layer).shortcut_m) {
            (Requant::Levels { residual: Some((r, _)), .. }, Some(m)) => {
                let (z, m) = (i32_lit(r.zero_point), bytes(m));
                quote!(::core::option::Option::Some(#rt::QShortcut { zero: #z, m: #rt::i32s(#m) }))
            }
            _ => quote!(::core::option::Option::None),
        }
    }

    /// `let image = ...;`: the staged levels when `pixels` was given, else the caller's floats,
    /// quantized as the stem reads them. `img` is the staged image's region, if bound.
    fn image(&self, staged: bool) -> TokenStream {
        let rt = rt();
        let inv = Literal::f32_suffixed(self.q.image.inverse_scale());
        let zp = i32_lit(self.q.image.zero_point);
        let floats = quote!(#rt::Image::Floats { x: input, inverse_scale: #inv, zero_point: #zp });
        if staged {
            quote!(let image = if pixels.is_some() { #rt::Image::Levels(&*img) } else { #floats };)
        } else {
            quote!(let image = #floats;)
        }
    }

    /// `[.., dst, scratch]` bound for a step writing `y` (and using `scratch`) that reads the
    /// image, with `image` bound too.
    fn bind_image(&self, program: &Program, rest: &[(usize, usize)]) -> TokenStream {
        let rt = rt();
        let names: Vec<_> = ["dst", "scratch"].iter().take(rest.len()).map(|n| quote::format_ident!("{n}")).collect();
        let regions: Vec<_> = rest.iter().map(|r| region(*r)).collect();
        match program.schedule.image_buffer() {
            Some(img) => {
                let img_region = region(program.arena.placements[img].region());
                let image = self.image(true);
                quote!(let [img, #(#names),*] = #rt::split(a, [#img_region, #(#regions),*]); #image)
            }
            None => {
                let image = self.image(false);
                quote!(let [#(#names),*] = #rt::split(a, [#(#regions),*]); #image)
            }
        }
    }

    /// The code of step `k`.
    pub(crate) fn step(&self, program: &Program, k: usize, step: &Step, std: bool) -> TokenStream {
        match step {
            Step::Layer(i) => self.layer(program, *i, std),
            Step::Block(b) => self.block(program, k, b, std),
            Step::Chain(_) => unreachable!("`spec` rejects `plan: memory` for int8 models"),
        }
    }

    fn layer(&self, program: &Program, i: usize, std: bool) -> TokenStream {
        let rt = rt();
        let net = &program.network;
        let layer = &net.layers[i];
        let (s, o) = (layer.input_shape, layer.output_shape);
        let tensor = |v: Value| match v {
            Value::Tensor(t) => Some(tensor_region(program, t)),
            _ => None,
        };
        let (x, y) = (tensor(layer.input), tensor(layer.output));
        let code = match layer.op {
            Op::Stem => {
                let y = y.expect("the stem writes a tensor");
                let bind = self.bind_image(program, &[y]);
                let (h, w, co) = (lit(s.h), lit(s.w), lit(o.c));
                let tf = net.spec.padding == crate::spec::Padding::Tf;
                let q = self.conv(i);
                quote! {
                    #bind
                    #rt::par_stem8::<#h, #w, #co, #tf>(threads.as_deref_mut(), cpu, image, #q, dst);
                }
            }
            Op::Pointwise { .. } => {
                let (x, y) = (region(x.expect("1x1 input")), region(y.expect("1x1 output")));
                let (px, kk, n) = (lit(s.h * s.w), lit(s.c), lit(o.c));
                let (q, sc) = (self.conv(i), self.shortcut(i));
                let (bind, res) = match layer.residual {
                    Some(r) => {
                        let r = region(tensor_region(program, r));
                        (quote!(let [src, res, dst] = #rt::split(a, [#x, #r, #y]);), quote!(#sc.map(|s| (&*res, s))))
                    }
                    None => (quote!(let [src, dst] = #rt::split(a, [#x, #y]);), quote!(::core::option::Option::None)),
                };
                quote! {
                    #bind
                    #rt::par_pointwise8::<#px, #kk, #n>(threads.as_deref_mut(), cpu, src, #q, #res, dst);
                }
            }
            Op::AvgPool => {
                let (x, y) = (region(x.expect("pool input")), region(y.expect("pool output")));
                let (hw, c) = (lit(s.h * s.w), lit(s.c));
                quote! {
                    let [src, dst] = #rt::split(a, [#x, #y]);
                    #rt::avg_pool8::<#hw, #c>(cpu, src, dst);
                }
            }
            Op::Linear => {
                let (xo, xl) = x.expect("the classifier reads pooled features");
                let (xo, xe) = (lit(xo), lit(xo + xl));
                let p = self.packed(i);
                let (w, b) = (bytes(p.weight), bytes(p.bias));
                let scales = bytes(p.scales.expect("the classifier has logit scales"));
                let zi = i32_lit(self.q.layers[i].input.zero_point);
                let (kk, n) = (lit(s.c), lit(o.c));
                quote! {
                    let q = #rt::QLinear { weight: #rt::i8s(#w), bias: #rt::i32s(#b), scales: #rt::f32s(#scales), input_zero: #zi };
                    #rt::par_linear8::<#kk, #n>(threads.as_deref_mut(), cpu, &a[#xo..#xe], q, logits);
                }
            }
            Op::Depthwise { .. } => unreachable!("`passes::compile` rejects a depthwise layer outside a fused block"),
        };
        let inspect = self.inspect(program, i, y, std);
        let comment = super::layer_comment(i, layer, " (int8)");
        quote! {
            {
                #[doc = #comment]
                const _: () = ();
                #code
            }
            #inspect
        }
    }

    fn block(&self, program: &Program, k: usize, b: &FusedBlock, std: bool) -> TokenStream {
        let rt = rt();
        let net = &program.network;
        let shape = block::shape_name(program, &b.dims);
        let (x, y, scratch) = block::regions(program, k, b);
        let part = |l: Option<usize>| match l {
            Some(l) => {
                let q = self.conv(l);
                quote!(::core::option::Option::Some(#q))
            }
            None => quote!(::core::option::Option::None),
        };
        let (stem, expand) = (part(b.stem), part(b.expand));
        let (dw, project, shortcut) = (self.conv(b.depthwise), self.conv(b.project), self.shortcut(b.project));
        let (bind, input) = match x {
            Some(x) => {
                let (x, yr, sr) = (region(x), region(y), region(scratch));
                (
                    quote!(let [src, dst, scratch] = #rt::split(a, [#x, #yr, #sr]);),
                    quote!(#rt::BlockInput::Levels(&*src)),
                )
            }
            None => (self.bind_image(program, &[y, scratch]), quote!(#rt::BlockInput::Image(image))),
        };
        let inspect_stem = b.stem.filter(|_| std).map(|l| {
            let stem = &net.layers[l];
            let (i, o) = (stem.input_shape, stem.output_shape);
            let (ih, iw, oh, ow, oc) = (lit(i.h), lit(i.w), lit(o.h), lit(o.w), lit(o.c));
            let padding = super::padding(b.dims.padding);
            let q = self.conv(l);
            let name = format!("features.{}", stem.stage.unwrap_or_default());
            let out = self.q.layers[l].output().expect("the stem writes levels");
            let (scale, zp) = (Literal::f32_suffixed(out.scale), i32_lit(out.zero_point));
            quote! {
                if let ::core::option::Option::Some(f) = inspect.as_mut() {
                    let levels = #rt::stem8_output(#ih, #iw, #oc, #padding, image, #q);
                    f(#name, [#oh, #ow, #oc], &#rt::dequantize(&levels, #scale, #zp));
                }
            }
        });
        let project_layer = &net.layers[b.project];
        let comment = format!(
            "features.{}: fused block {} -> {}{}, bands of {} rows (int8)",
            project_layer.stage.unwrap_or_default(),
            net.layers[b.first()].input_shape,
            project_layer.output_shape,
            if b.stem.is_some() { " (stem included)" } else { "" },
            b.dims.band
        );
        let inspect = self.inspect(program, b.project, Some(y), std);
        quote! {
            {
                #[doc = #comment]
                const _: () = ();
                #bind
                #inspect_stem
                let params = #rt::QBlockParams { stem: #stem, expand: #expand, depthwise: #dw, project: #project, shortcut: #shortcut };
                #rt::par_block8::<#shape>(threads.as_deref_mut(), cpu, #input, dst, params, scratch, extra, Self::__THREAD_SCRATCH_FLOATS * 4);
            }
            #inspect
        }
    }

    /// Report layer `l`'s finished `features.N` stage, dequantized, to `inspect` (`std` only:
    /// dequantizing allocates).
    fn inspect(&self, program: &Program, l: usize, y: Option<(usize, usize)>, std: bool) -> Option<TokenStream> {
        let out = self.q.layers[l].output()?;
        if !std {
            return None;
        }
        let rt = rt();
        let (scale, zp) = (Literal::f32_suffixed(out.scale), i32_lit(out.zero_point));
        Some(super::inspect_stage_as(
            &program.network.layers[l],
            y,
            |data| quote!(&#rt::dequantize(&#data, #scale, #zp)),
        ))
    }
}
