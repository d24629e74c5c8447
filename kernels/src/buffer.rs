//! Arena memory without an allocator: a caller-provided byte buffer checked and viewed as the
//! plan's floats, and the split of that memory into the regions one step uses.

use crate::Error;

/// Alignment, in bytes, `ArenaBuffer` and heap arenas give the arena's first float: one cache
/// line, one AVX-512 vector. Buffers need only f32's alignment (4); this one is faster.
pub const ARENA_ALIGN: usize = 64;

/// A byte buffer for a model's arena, aligned to `ARENA_ALIGN`. `N` is the model's
/// `ARENA_BYTES`; it dereferences to `[u8]`, so `&mut buffer` is what `forward_in` takes.
/// `new` is `const`, so the buffer can be a `static` (RAM, not stack, on a microcontroller).
#[repr(C, align(64))]
pub struct ArenaBuffer<const N: usize>(pub [u8; N]);

impl<const N: usize> ArenaBuffer<N> {
    pub const fn new() -> Self {
        ArenaBuffer([0; N])
    }
}

impl<const N: usize> Default for ArenaBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::ops::Deref for ArenaBuffer<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> core::ops::DerefMut for ArenaBuffer<N> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// The first `floats` floats of a caller's arena buffer: `Err` if it is shorter than
/// `floats * 4` bytes or not aligned for f32. Bytes past the plan are left alone.
pub fn buffer_floats(buffer: &mut [u8], floats: usize) -> Result<&mut [f32], Error> {
    let needed = floats * 4;
    if buffer.len() < needed {
        return Err(Error::BufferTooSmall { needed_bytes: needed, found_bytes: buffer.len() });
    }
    let misalignment = buffer.as_ptr() as usize % core::mem::align_of::<f32>();
    bytemuck::try_cast_slice_mut(&mut buffer[..needed]).map_err(|_| Error::BufferMisaligned { misalignment })
}

/// A `(offset, len)` region of the arena, in elements (floats; bytes for int8 models).
pub type Region = (usize, usize);

/// Borrow `N` disjoint regions of the arena at once (the memory plan guarantees they are).
///
/// # Panics
/// If two regions overlap or one lies outside `buf`: a bug in the compiler's plan.
#[inline]
pub fn split<T, const N: usize>(buf: &mut [T], regions: [Region; N]) -> [&mut [T]; N] {
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| regions[i].0);
    let mut out: [&mut [T]; N] = core::array::from_fn(|_| Default::default());
    let mut rest = buf;
    let mut base = 0;
    for i in order {
        let (offset, len) = regions[i];
        assert!(offset >= base, "arena regions overlap: a bug in the memory plan");
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
    fn buffers_are_checked_for_size_and_alignment() {
        let mut b = ArenaBuffer::<64>::new();
        assert_eq!(b.as_ptr().align_offset(ARENA_ALIGN), 0);
        assert_eq!(buffer_floats(&mut b, 16).unwrap().len(), 16);
        assert_eq!(buffer_floats(&mut b, 10).unwrap().len(), 10, "a larger buffer is fine");
        assert_eq!(buffer_floats(&mut b, 17).unwrap_err(), Error::BufferTooSmall { needed_bytes: 68, found_bytes: 64 });
        assert_eq!(buffer_floats(&mut b[1..], 4).unwrap_err(), Error::BufferMisaligned { misalignment: 1 });
        assert_eq!(buffer_floats(&mut b[6..], 4).unwrap_err(), Error::BufferMisaligned { misalignment: 2 });
        assert_eq!(buffer_floats(&mut b[4..], 4).unwrap().len(), 4);
    }

    #[test]
    fn splits_are_disjoint_views() {
        let mut buf: [f32; 20] = core::array::from_fn(|i| i as f32);
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
    #[should_panic(expected = "arena regions overlap")]
    fn overlapping_regions_panic() {
        let mut buf = [0.0; 10];
        let _ = split(&mut buf, [(0, 5), (4, 2)]);
    }
}
