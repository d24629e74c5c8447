//! Opens a Keras model file, telling the two formats apart by their first bytes: the Keras 3
//! `.keras` zip (`config.json` beside the weights file `model.weights.h5`) and the legacy HDF5
//! `.h5` (the config JSON in the root attribute `model_config`, weights under `model_weights/`).

use super::hdf5::{is_hdf5, H5};
use crate::Error;
use std::io::Read;
use std::path::Path;

/// Largest member of a `.keras` zip we read: far above any MobileNetV2 (a 1.4-wide model's
/// weights are 25 MB), far below what a damaged size field could claim.
const MAX_MEMBER: u64 = 1 << 30;

/// Where a model's weights live, which decides how a layer's tensors are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.keras`: `layers/<auto name>/vars/<index>` in `model.weights.h5`.
    Keras,
    /// Legacy `.h5`: `model_weights/<top-level layer>/<layer>/<variable>`.
    LegacyH5,
}

/// A model file's config JSON and its weights file.
pub struct Source {
    pub format: Format,
    pub config: String,
    pub weights: H5,
}

/// Read the model file at `path`.
pub fn open(path: &Path) -> Result<Source, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("cannot read `{shown}`: {e}")))?;
    let file = path.file_name().map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned());
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        open_keras(bytes, &file)
    } else if is_hdf5(&bytes) {
        open_h5(bytes, &file)
    } else {
        Err(Error::new(format!(
            "`{shown}` is neither a Keras 3 `.keras` file (a zip) nor a legacy Keras `.h5` file (HDF5)"
        )))
    }
}

fn open_h5(bytes: Vec<u8>, file: &str) -> Result<Source, Error> {
    let weights = H5::from_bytes(bytes, file)?;
    let config = weights.string_attr("", "model_config")?.ok_or_else(|| {
        Error::new(format!(
            "{file} has no `model_config` attribute: it holds weights only (saved with `save_weights`?); save the whole model with `model.save(\"model.keras\")` and import that"
        ))
    })?;
    if !weights.has_group("model_weights")? {
        return Err(Error::new(format!(
            "{file} has a model config but no `model_weights` group, so no weights to import"
        )));
    }
    Ok(Source { format: Format::LegacyH5, config, weights })
}

fn open_keras(bytes: Vec<u8>, file: &str) -> Result<Source, Error> {
    let bad =
        |e: zip::result::ZipError| Error::new(format!("{file} is not a readable zip (damaged or truncated?): {e}"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let config = member(&mut zip, file, "config.json")?;
    let config = String::from_utf8(config).map_err(|_| Error::new(format!("{file}: config.json is not UTF-8 text")))?;
    let weights = member(&mut zip, file, "model.weights.h5")?;
    let weights = H5::from_bytes(weights, &format!("{file}: model.weights.h5"))?;
    Ok(Source { format: Format::Keras, config, weights })
}

/// The bytes of zip member `name`; the zip reader checks each member's CRC as it is read.
fn member(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, file: &str, name: &str) -> Result<Vec<u8>, Error> {
    let mut entry = match zip.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(Error::new(format!(
                "{file} has no `{name}`: a `.keras` file holds config.json and model.weights.h5 (is it a Keras 3 model saved with `model.save`?)"
            )))
        }
        Err(e) => return Err(Error::new(format!("{file}: cannot open `{name}` (damaged or truncated?): {e}"))),
    };
    if entry.size() > MAX_MEMBER {
        return Err(Error::new(format!("{file}: `{name}` claims {} bytes; damaged?", entry.size())));
    }
    let mut out = Vec::new();
    entry
        .by_ref()
        .take(MAX_MEMBER)
        .read_to_end(&mut out)
        .map_err(|e| Error::new(format!("{file}: cannot read `{name}` (damaged or truncated?): {e}")))?;
    Ok(out)
}
