//! The arena: the one aligned block of activation memory a model runs in, which model made it
//! (so another model's offsets are refused) and the CPU settings its passes use.

use crate::{Cpu, Error, Isa};

/// Alignment of the arena's first float, in floats.
const ALIGN_F32: usize = crate::ARENA_ALIGN / 4;

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
                self.cpu =
                    cpu.with_specialized(self.cpu.specialized()).with_vnni(self.cpu.vnni()).with_amx(self.cpu.amx());
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

    /// Whether an int8 model may use the CPU's VNNI dot products (the default; see `Cpu::vnni`).
    pub fn vnni(&self) -> bool {
        self.cpu.vnni()
    }

    /// Allow VNNI for int8 (`true`) or run the AVX2 int8 kernels (`false`): to compare paths.
    pub fn set_vnni(&mut self, vnni: bool) {
        self.cpu = self.cpu.with_vnni(vnni);
    }

    /// Whether an int8 model may use AMX tiles (the default; see `Cpu::amx`).
    pub fn amx(&self) -> bool {
        self.cpu.amx()
    }

    /// Allow AMX for int8 (`true`) or not (`false`): to compare paths.
    pub fn set_amx(&mut self, amx: bool) {
        self.cpu = self.cpu.with_amx(amx);
    }

    /// The int8 kernels `forward` runs with this arena (`Cpu::int8_kernels`).
    pub fn int8_kernels(&self) -> &'static str {
        self.cpu.int8_kernels()
    }

    /// The arena's floats and kernels, if it was made for `model_id`.
    pub fn parts_for(&mut self, model: &'static str, model_id: u64) -> Result<(&mut [f32], Cpu), Error> {
        if self.model_id != model_id {
            return Err(Error::ArenaMismatch { expected_model: model, found_model: self.model });
        }
        Ok((&mut self.buf[self.start..self.start + self.len], self.cpu))
    }
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
        a.set_vnni(false);
        assert!(a.set_isa(Isa::Portable) && !a.vnni(), "set_isa keeps the VNNI choice");
    }
}
