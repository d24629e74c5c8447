//! Chains of two fused blocks (`par_chain_dyn`: the first block's output streamed through a
//! window of rows) give the same bits as the two blocks run one after the other, for any chunk
//! height, band heights, padding, stride, stem or expand, and on pools of threads.

mod common;

use common::{cpus, data};
use mobilenet_kernels::chain::{chain_scratch_len, input_rows, window_rows};
use mobilenet_kernels::layout::round_up_nr;
use mobilenet_kernels::reference::conv3x3_out;
use mobilenet_kernels::{fused_block_dyn, par_chain_dyn, BlockDims, BlockParams, Padding, Threads};
use proptest::prelude::*;

/// Random parameters for a block of shapes `d`, owned.
struct Weights(Vec<Vec<f32>>);

impl Weights {
    fn new(d: &BlockDims, seed: u64) -> Weights {
        let r = round_up_nr;
        Weights(vec![
            data(27 * d.cin, seed),
            data(d.cin, seed + 1),
            data(d.cin * r(d.hidden), seed + 2),
            data(r(d.hidden), seed + 3),
            data(9 * d.hidden, seed + 4),
            data(d.hidden, seed + 5),
            data(d.hidden * r(d.cout), seed + 6),
            data(r(d.cout), seed + 7),
        ])
    }

    fn params(&self, d: &BlockDims) -> BlockParams<'_> {
        let v = &self.0;
        BlockParams {
            stem: d.stem.map(|_| (&v[0][..], &v[1][..])),
            expand: d.expand.then_some((&v[2][..], &v[3][..])),
            depthwise: (&v[4], &v[5]),
            project: (&v[6], &v[7]),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn block(
    h: usize,
    w: usize,
    cin: usize,
    t: usize,
    cout: usize,
    s: usize,
    residual: bool,
    band: f64,
    pad: Padding,
) -> BlockDims {
    let expand = t != 1;
    let residual = residual && s == 1;
    let ho = conv3x3_out(h, s);
    BlockDims {
        h,
        w,
        cin,
        hidden: if expand { cin * t } else { cin },
        cout: if residual { cin } else { cout },
        stride: s,
        expand,
        residual,
        band: (1 + (band * ho as f64) as usize).min(ho),
        stem: None,
        padding: pad,
    }
}

#[test]
fn windows_cover_what_a_chunk_reads() {
    let b = block(9, 4, 3, 2, 5, 2, false, 0.0, Padding::Torch);
    assert_eq!(window_rows(&b, 1), 3);
    assert_eq!(input_rows(&b, 0, 1), (0, 2), "row 0 reads rows -1..=1");
    assert_eq!(input_rows(&b, 2, 4), (3, 8));
    assert_eq!(input_rows(&b, 4, 5), (7, 9), "clipped at the bottom");
    let tf = BlockDims { padding: Padding::Tf, h: 8, ..b };
    assert_eq!(input_rows(&tf, 0, 1), (0, 3), "TF pads after an even input");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn chain_equals_two_steps(
        h in 2usize..14, w in 1usize..10, c0 in 1usize..12, t0 in 1usize..4, c1 in 1usize..12, s0 in 1usize..=2,
        t1 in 1usize..4, c2 in 1usize..12, s1 in 1usize..=2, res1: bool, stem: bool, tf: bool,
        band0 in 0.0f64..1.0, band1 in 0.0f64..1.0, chunk_frac in 0.0f64..1.0, seed: u64,
    ) {
        let pad = if tf { Padding::Tf } else { Padding::Torch };
        let image = stem.then_some((2 * h - (seed % 2) as usize, 2 * w));
        let (h, w) = image.map_or((h, w), |(ih, iw)| (conv3x3_out(ih, 2), conv3x3_out(iw, 2)));
        let mut a = block(h, w, c0, if stem { 1 } else { t0 }, c1, s0, false, band0, pad);
        a.stem = image;
        let b = block(a.ho(), a.wo(), a.cout, t1, c2, s1, res1, band1, pad);
        let chunk = 1 + (chunk_frac * b.ho() as f64) as usize;
        let (wa, wb) = (Weights::new(&a, seed + 10), Weights::new(&b, seed + 20));
        let x = data(a.x_len(), seed);
        for cpu in cpus() {
            let mut mid = vec![f32::NAN; a.y_len()];
            let mut want = vec![f32::NAN; b.y_len()];
            fused_block_dyn(cpu, &a, &x, &mut mid, wa.params(&a), &mut vec![f32::NAN; a.scratch_len()], 0..a.ho());
            fused_block_dyn(cpu, &b, &mid, &mut want, wb.params(&b), &mut vec![f32::NAN; b.scratch_len()], 0..b.ho());
            let per_thread = chain_scratch_len(&a, &b, chunk);
            for n in [1, 2, 3] {
                let mut pool = Threads::new(n);
                let mut y = vec![f32::NAN; b.y_len()];
                let mut scratch = vec![f32::NAN; per_thread];
                let mut extra = vec![f32::NAN; (n - 1) * per_thread];
                par_chain_dyn(Some(&mut pool), cpu, &a, &b, chunk, &x, &mut y, wa.params(&a), wb.params(&b), &mut scratch, &mut extra, per_thread);
                prop_assert!(
                    y.iter().zip(&want).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{n} threads, chunk {chunk}, {a:?} then {b:?}"
                );
            }
        }
    }
}
