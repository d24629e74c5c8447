//! Read-only access to what the importer needs from an HDF5 file: groups by path, string
//! attributes and float datasets, with every failure turned into a [`crate::Error`] that names
//! the file and the object.
//!
//! The decoder is the `hdf5-reader` crate (0.12, pure Rust, read-only, MIT/Apache-2.0, MSRV
//! 1.81): it reads both Keras layouts (superblock 0, symbol-table groups, variable-length string
//! attributes in the global heap, contiguous float32 datasets) and returned errors, never
//! panics, on 12,000 truncated or bit-flipped copies of the reference files. `hdf5-pure` 0.47
//! read them as well but costs twice the compile time (one 125k-line crate); `rustyhdf5` has had
//! one release; `hdf5-metno` needs the C library.

use crate::Error;
use hdf5_reader::group::Group;
use hdf5_reader::{Datatype, Hdf5File};

/// The HDF5 format signature, at offset 0 or after a user block of 512, 1024, 2048, ... bytes.
const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Most elements one tensor may have (1 GiB of f32): far above any MobileNetV2's, so a damaged
/// or hostile file cannot make us allocate without bound.
const MAX_ELEMENTS: usize = 1 << 28;

/// An HDF5 file held in memory.
pub struct H5 {
    file: Hdf5File,
    /// How messages name the file, e.g. `model.h5` or `model.keras: model.weights.h5`.
    what: String,
}

/// Whether `bytes` carry the HDF5 signature where the format allows it.
pub fn is_hdf5(bytes: &[u8]) -> bool {
    let mut at = 0usize;
    while at.checked_add(SIGNATURE.len()).is_some_and(|end| end <= bytes.len()) {
        if &bytes[at..at + SIGNATURE.len()] == SIGNATURE {
            return true;
        }
        at = if at == 0 { 512 } else { at * 2 };
    }
    false
}

impl H5 {
    /// Parse `bytes` as an HDF5 file; `what` names it in messages.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<H5, Error> {
        if !is_hdf5(&bytes) {
            return Err(Error::new(format!("{what} is not an HDF5 file (no HDF5 signature)")));
        }
        let file = Hdf5File::from_vec(bytes)
            .map_err(|e| Error::new(format!("{what} is not a readable HDF5 file (damaged or truncated?): {e}")))?;
        Ok(H5 { file, what: what.to_string() })
    }

    /// How messages name this file.
    pub fn what(&self) -> &str {
        &self.what
    }

    fn damaged(&self, path: &str, e: impl std::fmt::Display) -> Error {
        Error::new(format!("{}: cannot read `{path}` (damaged or truncated file?): {e}", self.what))
    }

    /// The group at `path` (`""` is the root), or `None` when some part of the path is missing.
    fn group(&self, path: &str) -> Result<Option<Group>, Error> {
        let mut group = self.file.root_group().map_err(|e| self.damaged("/", e))?;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let (groups, _) = group.member_names().map_err(|e| self.damaged(path, e))?;
            if !groups.iter().any(|g| g == part) {
                return Ok(None);
            }
            group = group.group(part).map_err(|e| self.damaged(path, e))?;
        }
        Ok(Some(group))
    }

    /// Whether a group exists at `path`.
    pub fn has_group(&self, path: &str) -> Result<bool, Error> {
        Ok(self.group(path)?.is_some())
    }

    /// The string attribute `name` of the group at `path`, or `None` when the group or the
    /// attribute is missing. An attribute that is not a string is an error.
    pub fn string_attr(&self, path: &str, name: &str) -> Result<Option<String>, Error> {
        let Some(group) = self.group(path)? else { return Ok(None) };
        let attrs = group.attributes().map_err(|e| self.damaged(path, e))?;
        let Some(attr) = attrs.iter().find(|a| a.name == name) else { return Ok(None) };
        let text = attr
            .read_string()
            .map_err(|e| Error::new(format!("{}: attribute `{name}` of `/{path}` is not a string: {e}", self.what)))?;
        Ok(Some(text))
    }

    /// The shape of the dataset at `path`, or `None` when it is missing.
    pub fn shape(&self, path: &str) -> Result<Option<Vec<usize>>, Error> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(group) = self.group(parent)? else { return Ok(None) };
        let (_, datasets) = group.member_names().map_err(|e| self.damaged(path, e))?;
        if !datasets.iter().any(|d| d == name) {
            return Ok(None);
        }
        let ds = group.dataset(name).map_err(|e| self.damaged(path, e))?;
        ds.shape()
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| self.damaged(path, format!("dimension {d} is too large"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The float dataset at `path` as f32, row-major. Its shape must be `shape` (checked before
    /// anything is read, so a damaged header cannot make us allocate its claimed size).
    pub fn read_f32(&self, path: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let found = self.shape(path)?;
        if found.as_deref() != Some(shape) {
            return Err(match found {
                None => Error::new(format!("{}: dataset `/{path}` is missing", self.what)),
                Some(s) => Error::new(format!("{}: dataset `/{path}` has shape {s:?}, expected {shape:?}", self.what)),
            });
        }
        let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS);
        let Some(n) = n else {
            return Err(Error::new(format!("{}: dataset `/{path}` of shape {shape:?} is too large", self.what)));
        };
        let group = self.group(parent)?.ok_or_else(|| self.damaged(path, "its group vanished"))?;
        let ds = group.dataset(name).map_err(|e| self.damaged(path, e))?;
        match ds.dtype() {
            Datatype::FloatingPoint { size: 4, .. } => {
                let mut out = vec![0f32; n];
                ds.read_into(&mut out).map_err(|e| self.damaged(path, e))?;
                Ok(out)
            }
            // float64 weights (a model saved in double precision) narrow to f32 as the kernels run.
            Datatype::FloatingPoint { size: 8, .. } => {
                let mut out = vec![0f64; n];
                ds.read_into(&mut out).map_err(|e| self.damaged(path, e))?;
                Ok(out.into_iter().map(|v| v as f32).collect())
            }
            other => Err(Error::new(format!(
                "{}: dataset `/{path}` holds {other:?}; the importer reads float32 or float64 weights",
                self.what
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_found_at_offset_zero_or_after_a_user_block() {
        assert!(!is_hdf5(b""));
        assert!(!is_hdf5(b"PK\x03\x04 not hdf5"));
        assert!(is_hdf5(SIGNATURE));
        let mut with_block = vec![0u8; 1024];
        with_block.extend_from_slice(SIGNATURE);
        assert!(is_hdf5(&with_block));
        with_block.insert(0, 0);
        assert!(!is_hdf5(&with_block));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [b"hello".to_vec(), SIGNATURE.to_vec(), [SIGNATURE.as_slice(), &[0xff; 100]].concat()] {
            assert!(H5::from_bytes(bytes, "x.h5").is_err());
        }
    }
}
