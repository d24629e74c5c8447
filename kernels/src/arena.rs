use crate::{Cpu, Error, Isa};

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
    cpu: Cpu,
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
        Arena { buf, start, len, model, model_id, cpu: Cpu::detect() }
    }

    /// Size in bytes of the usable region.
    pub fn bytes(&self) -> usize {
        self.len * 4
    }

    /// Name of the model this arena was made for.
    pub fn model(&self) -> &'static str {
        self.model
    }

    /// The instruction set `forward` uses with this arena (the best this CPU runs, unless set).
    pub fn isa(&self) -> Isa {
        self.cpu.isa()
    }

    /// Run with the kernels for `isa` (to compare paths or measure them). Returns `false`, and
    /// changes nothing, if this CPU cannot run it.
    pub fn set_isa(&mut self, isa: Isa) -> bool {
        match Cpu::new(isa) {
            Some(cpu) => {
                self.cpu = cpu.with_specialized(self.cpu.specialized());
                true
            }
            None => false,
        }
    }

    /// Whether `forward` runs the shape-constant kernels instantiated for each layer (`true`, the
    /// default) or the run-time-shaped ones compiled once for any shape (`false`): a debug
    /// switch, and what the benchmarks compare the specialised code with.
    pub fn specialized(&self) -> bool {
        self.cpu.specialized()
    }

    /// Choose shape-constant (`true`) or run-time-shaped (`false`) kernels; see `specialized`.
    pub fn set_specialized(&mut self, specialized: bool) {
        self.cpu = self.cpu.with_specialized(specialized);
    }

    /// The arena's floats and kernels, if it was made for `model_id`.
    pub fn parts_for(&mut self, model: &'static str, model_id: u64) -> Result<(&mut [f32], Cpu), Error> {
        if self.model_id != model_id {
            return Err(Error::ArenaMismatch { expected_model: model, found_model: self.model });
        }
        Ok((&mut self.buf[self.start..self.start + self.len], self.cpu))
    }
}

/// A `(offset, len)` region of the arena, in floats.
pub type Region = (usize, usize);

/// Borrow `N` disjoint regions of the arena at once (the memory plan guarantees they are).
///
/// # Panics
/// If two regions overlap or one lies outside `buf`: a bug in the compiler's plan.
#[inline]
pub fn split<const N: usize>(buf: &mut [f32], regions: [Region; N]) -> [&mut [f32]; N] {
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| regions[i].0);
    let mut out: [&mut [f32]; N] = core::array::from_fn(|_| Default::default());
    let mut rest = buf;
    let mut base = 0;
    for i in order {
        let (offset, len) = regions[i];
        let tail = core::mem::take(&mut rest);
        let (_, tail) = tail.split_at_mut(offset - base);
        let (mine, tail) = tail.split_at_mut(len);
        out[i] = mine;
        rest = tail;
        base = offset + len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_checks_model_and_aligns() {
        let mut a = Arena::new(1000, "A", 1);
        assert_eq!(a.bytes(), 1000);
        let (f, _) = a.parts_for("A", 1).unwrap();
        assert_eq!(f.len(), 250);
        assert_eq!(f.as_ptr().align_offset(64), 0);
        assert_eq!(a.parts_for("B", 2).unwrap_err(), Error::ArenaMismatch { expected_model: "B", found_model: "A" });
        assert!(a.specialized());
        a.set_specialized(false);
        assert!(a.set_isa(Isa::Portable));
        assert_eq!(a.isa(), Isa::Portable);
        assert!(!a.specialized(), "set_isa keeps the kernel form");
    }

    #[test]
    fn splits_are_disjoint_views() {
        let mut buf: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let [s, d] = split(&mut buf, [(10, 5), (0, 4)]);
        assert_eq!(s, &[10.0, 11.0, 12.0, 13.0, 14.0]);
        d[0] = -1.0;
        let [a, b, d] = split(&mut buf, [(16, 2), (0, 3), (5, 5)]);
        assert_eq!(a, &[16.0, 17.0]);
        assert_eq!(b, &[-1.0, 1.0, 2.0]);
        assert_eq!(d, &[5.0, 6.0, 7.0, 8.0, 9.0]);
        let [e] = split(&mut buf, [(20, 0)]);
        assert!(e.is_empty());
    }

    #[test]
    #[should_panic]
    fn overlapping_regions_panic() {
        let mut buf = vec![0.0; 10];
        let _ = split(&mut buf, [(0, 5), (4, 2)]);
    }
}
