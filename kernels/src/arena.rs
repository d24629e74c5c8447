use crate::Error;

/// Alignment of the arena's first float, in floats (64 bytes: one cache line, one AVX-512 vector).
const ALIGN_F32: usize = 16;

/// The one block of activation memory a compiled model runs in.
///
/// Made once by the model's `arena()`; `forward` only borrows it, so inference allocates
/// nothing. Each arena remembers which model made it: its offsets are that model's
/// compile-time memory plan and mean nothing to another.
#[derive(Debug, Clone)]
pub struct Arena {
    buf: Vec<f32>,
    start: usize,
    len: usize,
    model: &'static str,
    model_id: u64,
}

impl Arena {
    /// An arena of `bytes` bytes (rounded up to whole floats) for the model `model`/`model_id`.
    pub fn new(bytes: usize, model: &'static str, model_id: u64) -> Arena {
        let len = bytes.div_ceil(4);
        let buf = vec![0.0f32; len + ALIGN_F32];
        // align_offset may decline (returns usize::MAX); then run unaligned from 0.
        let start = match buf.as_ptr().align_offset(ALIGN_F32 * 4) {
            off if off < ALIGN_F32 => off,
            _ => 0,
        };
        Arena { buf, start, len, model, model_id }
    }

    /// Size in bytes of the usable region.
    pub fn bytes(&self) -> usize {
        self.len * 4
    }

    /// Name of the model this arena was made for.
    pub fn model(&self) -> &'static str {
        self.model
    }

    /// The arena's floats, if it was made for `model_id`.
    pub fn floats_for(&mut self, model: &'static str, model_id: u64) -> Result<&mut [f32], Error> {
        if self.model_id != model_id {
            return Err(Error::ArenaMismatch { expected_model: model, found_model: self.model });
        }
        Ok(&mut self.buf[self.start..self.start + self.len])
    }
}

/// A `(offset, len)` region of the arena, in floats.
pub type Region = (usize, usize);

/// Borrow `src` for reading and `dst` for writing; the memory plan guarantees they are disjoint.
#[inline]
pub fn split_rw(buf: &mut [f32], src: Region, dst: Region) -> (&[f32], &mut [f32]) {
    if src.0 < dst.0 {
        let (lo, hi) = buf.split_at_mut(dst.0);
        (&lo[src.0..src.0 + src.1], &mut hi[..dst.1])
    } else {
        let (lo, hi) = buf.split_at_mut(src.0);
        (&hi[..src.1], &mut lo[dst.0..dst.0 + dst.1])
    }
}

/// Borrow two read regions and one write region, all disjoint.
#[inline]
pub fn split_rrw(buf: &mut [f32], a: Region, b: Region, dst: Region) -> (&[f32], &[f32], &mut [f32]) {
    // Carve `dst` out first, then read from what is left on either side.
    let (lo, rest) = buf.split_at_mut(dst.0);
    let (d, hi) = rest.split_at_mut(dst.1);
    let hi_base = dst.0 + dst.1;
    let lo: &[f32] = lo;
    let hi: &[f32] = hi;
    let pick = |r: Region| -> &[f32] {
        if r.0 >= hi_base {
            &hi[r.0 - hi_base..r.0 - hi_base + r.1]
        } else {
            &lo[r.0..r.0 + r.1]
        }
    };
    (pick(a), pick(b), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_checks_model_and_aligns() {
        let mut a = Arena::new(1000, "A", 1);
        assert_eq!(a.bytes(), 1000);
        let f = a.floats_for("A", 1).unwrap();
        assert_eq!(f.len(), 250);
        assert_eq!(f.as_ptr().align_offset(64), 0);
        assert_eq!(a.floats_for("B", 2).unwrap_err(), Error::ArenaMismatch { expected_model: "B", found_model: "A" });
    }

    #[test]
    fn splits_are_disjoint_views() {
        let mut buf: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let (s, d) = split_rw(&mut buf, (10, 5), (0, 4));
        assert_eq!(s, &[10.0, 11.0, 12.0, 13.0, 14.0]);
        d[0] = -1.0;
        let (s, d) = split_rw(&mut buf, (0, 2), (15, 5));
        assert_eq!(s, &[-1.0, 1.0]);
        assert_eq!(d.len(), 5);
        let (a, b, d) = split_rrw(&mut buf, (16, 2), (0, 3), (5, 5));
        assert_eq!(a, &[16.0, 17.0]);
        assert_eq!(b, &[-1.0, 1.0, 2.0]);
        assert_eq!(d[0], 5.0);
    }
}
