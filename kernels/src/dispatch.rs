//! Operand checks shared by every entry point (shapes validated and lengths checked once per
//! call, against overflow-checked products, so the kernels can run on raw pointers), and the
//! run-time-shaped entry points: one compiled instance per
//! ISA for any shape, the debug path and the baseline the benchmarks compare the shape-constant
//! kernels (`par`) with. `Cpu` proves the chosen ISA runs on this machine.

use crate::block::{BlockDims, BlockPart, BlockPtrs};
use crate::dw::DwRow;
use crate::gemm::Gemm;
use crate::isa::{route, Cpu};
use crate::layout::{round_up_nr, NR};
use crate::reference::{conv3x3_out, Padding};

#[cfg(target_arch = "aarch64")]
use crate::isa::neon;
use crate::isa::portable;
#[cfg(target_arch = "x86_64")]
use crate::isa::{avx2, avx512};

#[track_caller]
pub(crate) fn check(what: &str, len: usize, need: usize) {
    assert!(len >= need, "internal error: {what} has {len} floats, kernel needs {need}");
}

/// The product of `dims`, or a panic if it overflows: a length check against a wrapped
/// product would let a kernel run past its slice.
#[track_caller]
pub(crate) fn size<const N: usize>(dims: [usize; N]) -> usize {
    dims.into_iter().try_fold(1usize, usize::checked_mul).expect("internal error: a shape overflows usize")
}

/// Every dimension at least 1 (the kernels' tiles and index arithmetic assume it).
#[track_caller]
pub(crate) fn check_dims<const N: usize>(what: &str, dims: [usize; N]) {
    assert!(dims.iter().all(|&d| d >= 1), "internal error: {what}: a size is 0 ({dims:?})");
}

/// The stem (3x3 stride-2 convolution of the `h x w_in x 3` image to `co` channels, BN and
/// ReLU6 fused) with run-time shapes.
#[allow(clippy::too_many_arguments)]
pub fn stem_dyn(
    cpu: Cpu,
    h: usize,
    w_in: usize,
    co: usize,
    padding: Padding,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    let (ho, wo) = check_stem(h, w_in, co, x, w, b, out);
    let pad = (padding.before(h, 2), padding.before(w_in, 2));
    let (x, w, b, out) = (x.as_ptr(), w.as_ptr(), b.as_ptr(), out.as_mut_ptr());
    // SAFETY: lengths checked above; `cpu` proves the ISA.
    unsafe { route!(cpu, stem_rows(h, w_in, co, wo, pad, x, w, b, out, 0..ho)) }
}

/// Check the stem's operands; its output height and width.
pub(crate) fn check_stem(
    h: usize,
    w_in: usize,
    co: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &[f32],
) -> (usize, usize) {
    check_dims("stem", [h, w_in, co]);
    let (ho, wo) = (conv3x3_out(h, 2), conv3x3_out(w_in, 2));
    check("stem input", x.len(), size([h, w_in, 3]));
    check("stem weights", w.len(), size([27, co]));
    check("stem bias", b.len(), co);
    check("stem output", out.len(), size([ho, wo, co]));
    (ho, wo)
}

/// The stem's output as a new buffer, for `forward_inspect` when the plan fuses the stem into
/// the first block (so its output never exists in the arena). Allocates; `forward` never calls it.
#[cfg(feature = "std")]
#[allow(clippy::too_many_arguments)]
pub fn stem_output(
    cpu: Cpu,
    h: usize,
    w_in: usize,
    co: usize,
    padding: Padding,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> std::vec::Vec<f32> {
    let mut out = std::vec![0.0; conv3x3_out(h, 2) * conv3x3_out(w_in, 2) * co];
    stem_dyn(cpu, h, w_in, co, padding, x, w, b, &mut out);
    out
}

/// A fused block's whole output as a new buffer, for `forward_inspect` when a chain streams it
/// (so it never exists in the arena). Allocates; `forward` never calls it.
#[cfg(feature = "std")]
pub fn block_output(cpu: Cpu, d: &BlockDims, x: &[f32], p: BlockParams<'_>) -> std::vec::Vec<f32> {
    let (mut y, mut scratch) = (std::vec![0.0; d.y_len()], std::vec![0.0; d.scratch_len()]);
    fused_block_dyn(cpu, d, x, &mut y, p, &mut scratch, 0..d.ho());
    y
}

/// 1x1 convolution of `p` pixels from `k` to `n` channels with run-time shapes; `relu` fuses
/// ReLU6; `res` is added after the activation (the linear bottleneck's shortcut).
#[allow(clippy::too_many_arguments)]
pub fn pointwise_dyn(
    cpu: Cpu,
    p: usize,
    k: usize,
    n: usize,
    relu: bool,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: Option<&[f32]>,
    out: &mut [f32],
) {
    check_pointwise(p, k, n, x, w, b, res, out);
    if p == 0 || n == 0 {
        return;
    }
    let g = pointwise_gemm(k, n, relu, x, w, b, res, out.as_mut_ptr(), 0..p);
    // SAFETY: lengths checked above; `cpu` proves the ISA.
    unsafe { route!(cpu, gemm(&g)) }
}

/// Check a 1x1 convolution's operands.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_pointwise(
    p: usize,
    k: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: Option<&[f32]>,
    out: &[f32],
) {
    check_dims("1x1", [k, n]);
    check("1x1 input", x.len(), size([p, k]));
    check("1x1 weights", w.len(), size([k, round_up_nr(n)]));
    check("1x1 bias", b.len(), round_up_nr(n));
    check("1x1 output", out.len(), size([p, n]));
    if let Some(r) = res {
        check("1x1 residual", r.len(), size([p, n]));
    }
}

/// The GEMM of pixels `rows` of a 1x1 convolution whose operands passed `check_pointwise`
/// (`out`: the start of its output).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pointwise_gemm(
    k: usize,
    n: usize,
    relu: bool,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: Option<&[f32]>,
    out: *mut f32,
    rows: core::ops::Range<usize>,
) -> Gemm {
    Gemm {
        m: rows.len(),
        k,
        n,
        a: x[rows.start * k..].as_ptr(),
        lda: k,
        w: w.as_ptr(),
        bias: b.as_ptr(),
        res: res.map_or(core::ptr::null(), |r| r[rows.start * n..].as_ptr()),
        ldr: n,
        out: out.wrapping_add(rows.start * n),
        ldo: n,
        relu,
    }
}

/// 3x3 depthwise convolution (stride `s`, zeros as `padding` says) of `h x w_in x c`, BN and ReLU6 fused,
/// with run-time shapes (fused blocks run it row by row; this whole-map form is for tests).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_dyn(
    cpu: Cpu,
    h: usize,
    w_in: usize,
    c: usize,
    s: usize,
    padding: Padding,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    check_dims("depthwise", [h, w_in, c]);
    assert!(s == 1 || s == 2, "internal error: depthwise stride {s}");
    let (ho, wo) = (conv3x3_out(h, s), conv3x3_out(w_in, s));
    check("depthwise input", x.len(), size([h, w_in, c]));
    check("depthwise weights", w.len(), size([9, c]));
    check("depthwise bias", b.len(), c);
    check("depthwise output", out.len(), size([ho, wo, c]));
    let d = DwRow { w_in, c, ch: (0, c), stride: s, wo, pad: padding.before(w_in, s) };
    let pad_top = padding.before(h, s);
    // SAFETY: lengths checked above; `cpu` proves the ISA.
    unsafe { route!(cpu, dw_rows(&d, h, pad_top, x.as_ptr(), w.as_ptr(), b.as_ptr(), out.as_mut_ptr(), 0..ho)) }
}

/// Mean over `hw` pixels of each of `c` channels, run-time shapes.
pub fn avg_pool_dyn(cpu: Cpu, hw: usize, c: usize, x: &[f32], out: &mut [f32]) {
    check_dims("pool", [hw, c]);
    check("pool input", x.len(), size([hw, c]));
    check("pool output", out.len(), c);
    // SAFETY: lengths checked above; `cpu` proves the ISA.
    unsafe { route!(cpu, avg_pool(hw, c, x.as_ptr(), out.as_mut_ptr())) }
}

/// Fully connected layer from `k` to `n` (weights packed like a 1x1 convolution), run-time
/// shapes.
#[allow(clippy::too_many_arguments)]
pub fn linear_dyn(cpu: Cpu, k: usize, n: usize, x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    check_linear(k, n, x, w, b, out);
    let g = linear_gemm(k, n, x, w, b, out.as_mut_ptr(), 0..n.div_ceil(NR));
    // SAFETY: lengths checked above; `cpu` proves the ISA.
    unsafe { route!(cpu, gemv(&g)) }
}

/// Check a linear layer's operands.
pub(crate) fn check_linear(k: usize, n: usize, x: &[f32], w: &[f32], b: &[f32], out: &[f32]) {
    check_dims("linear", [k, n]);
    check("linear input", x.len(), k);
    check("linear weights", w.len(), size([k, round_up_nr(n)]));
    check("linear bias", b.len(), round_up_nr(n));
    check("linear output", out.len(), n);
}

/// The matrix-vector product of output panels `panels` of a linear layer whose operands passed
/// `check_linear` (`out`: the start of its output); `n == 0` when the panels hold no outputs.
pub(crate) fn linear_gemm(
    k: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: *mut f32,
    panels: core::ops::Range<usize>,
) -> Gemm {
    let (c0, c1) = (panels.start * NR, (panels.end * NR).min(n));
    Gemm {
        m: 1,
        k,
        n: c1.saturating_sub(c0),
        a: x.as_ptr(),
        lda: k,
        w: w.as_ptr().wrapping_add(panels.start * k * NR),
        bias: b.as_ptr().wrapping_add(c0),
        res: core::ptr::null(),
        ldr: 0,
        out: out.wrapping_add(c0),
        ldo: n,
        relu: false,
    }
}

/// Packed parameters of a fused block: (weights, bias) per convolution.
#[derive(Clone, Copy, Debug)]
pub struct BlockParams<'a> {
    /// The network's stem, when the block reads the image (`BlockDims::stem`).
    pub stem: Option<(&'a [f32], &'a [f32])>,
    pub expand: Option<(&'a [f32], &'a [f32])>,
    pub depthwise: (&'a [f32], &'a [f32]),
    pub project: (&'a [f32], &'a [f32]),
}

/// A fused inverted-residual block over output rows `rows` (all of them: `0..d.ho()`), run-time
/// shapes.
pub fn fused_block_dyn(
    cpu: Cpu,
    d: &BlockDims,
    x: &[f32],
    y: &mut [f32],
    p: BlockParams<'_>,
    scratch: &mut [f32],
    rows: core::ops::Range<usize>,
) {
    let ptrs = check_block(d, x, y, p, scratch, rows.clone());
    // SAFETY: operands checked by `check_block`; `cpu` proves the ISA.
    unsafe { route!(cpu, block_dyn(d, &ptrs, BlockPart::Rows(rows))) }
}

/// Check a block's operands against its shapes; the pointers the kernel may then use.
pub(crate) fn check_block(
    d: &BlockDims,
    x: &[f32],
    y: &mut [f32],
    p: BlockParams<'_>,
    scratch: &mut [f32],
    rows: core::ops::Range<usize>,
) -> BlockPtrs {
    // First: it validates the shapes, so that the lengths below cannot wrap.
    let params = block_params(d, p);
    check("block input", x.len(), d.x_len());
    check("block output", y.len(), d.y_len());
    check("block scratch", scratch.len(), d.scratch_len());
    assert!(rows.end <= d.ho(), "internal error: bad block rows");
    // `y` and `scratch` are distinct `&mut`s, so they overlap nothing.
    BlockPtrs { x: x.as_ptr(), y: y.as_mut_ptr(), scratch: scratch.as_mut_ptr(), ..params }
}

/// Check a block's shapes and parameters; their pointers (`x`, `y` and `scratch` null).
pub(crate) fn block_params(d: &BlockDims, p: BlockParams<'_>) -> BlockPtrs {
    d.validate();
    assert!(!d.residual || (d.stride == 1 && d.cin == d.cout), "internal error: bad shortcut");
    let (ew, eb) = match p.expand {
        Some((w, b)) => {
            check("expand weights", w.len(), d.cin * round_up_nr(d.hidden));
            check("expand bias", b.len(), round_up_nr(d.hidden));
            (w.as_ptr(), b.as_ptr())
        }
        None => {
            assert!(!d.expand, "internal error: missing expand weights");
            (core::ptr::null(), core::ptr::null())
        }
    };
    let (sw, sb) = match (p.stem, d.stem) {
        (Some((w, b)), Some(_)) => {
            check("stem weights", w.len(), 27 * d.cin);
            check("stem bias", b.len(), d.cin);
            (w.as_ptr(), b.as_ptr())
        }
        (None, None) => (core::ptr::null(), core::ptr::null()),
        _ => panic!("internal error: stem weights and stem input disagree"),
    };
    assert!(d.stem.is_none() || (!d.expand && !d.residual && d.hidden == d.cin), "internal error: bad stem block");
    if let Some((h, w)) = d.stem {
        assert!(d.h == conv3x3_out(h, 2) && d.w == conv3x3_out(w, 2), "internal error: bad stem shape");
    }
    check("depthwise weights", p.depthwise.0.len(), 9 * d.hidden);
    check("depthwise bias", p.depthwise.1.len(), d.hidden);
    check("project weights", p.project.0.len(), d.hidden * round_up_nr(d.cout));
    check("project bias", p.project.1.len(), round_up_nr(d.cout));
    BlockPtrs {
        x: core::ptr::null(),
        y: core::ptr::null_mut(),
        expand_w: ew,
        expand_b: eb,
        stem_w: sw,
        stem_b: sb,
        dw_w: p.depthwise.0.as_ptr(),
        dw_b: p.depthwise.1.as_ptr(),
        project_w: p.project.0.as_ptr(),
        project_b: p.project.1.as_ptr(),
        scratch: core::ptr::null_mut(),
        x_row0: 0,
        y_row0: 0,
    }
}
