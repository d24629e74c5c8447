//! The MobileNetV2 ahead-of-time compiler: YAML spec -> layer IR -> passes -> Rust tokens.
//!
//! `mobilenet-macros` is a thin shim over [`expand`]; everything here is a plain library, so
//! the whole pipeline is testable without a proc-macro context.
#![forbid(unsafe_code)]

pub mod codegen;
pub mod error;
pub mod fuzzing;
pub mod init_weights;
pub mod ir;
#[cfg(feature = "keras")]
pub mod keras;
pub mod labels;
pub mod passes;
pub mod quantize;
pub mod reference;
pub mod spec;
pub mod summary;
pub mod work_split;

pub use error::{Error, Location};
pub use passes::Program;
pub use spec::{SourceFile, Spec};

use proc_macro2::TokenStream;
use spec::{locate, Seg};
use std::path::{Path, PathBuf};

/// A spec read from disk and compiled, with its weights folded if it names any.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub source: SourceFile,
    pub program: Program,
    pub baked: Option<Vec<f32>>,
    /// For `precision: int8`: the quantized network and its packed parameters.
    pub int8: Option<(quantize::QuantizedNetwork, quantize::pack::Packed)>,
    /// Class names from the spec's `labels` file.
    pub labels: Option<Vec<String>>,
    pub tracked: codegen::Tracked,
}

/// Expand `mobilenet!("path/to/spec.yaml")` for a runtime with (`Target::STD`) or without
/// `std`. Errors point at the string literal.
pub fn expand(input: TokenStream, target: codegen::Target) -> Result<TokenStream, syn::Error> {
    let lit: syn::LitStr = syn::parse2(input.clone()).map_err(|_| {
        syn::Error::new_spanned(
            &input,
            "mobilenet! takes one string literal, the spec path relative to the crate root: mobilenet!(\"models/v2.yaml\")",
        )
    })?;
    let base = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let rel = lit.value();
    // A panic must never reach the user as "proc macro panicked": report it as an error.
    let result = std::panic::catch_unwind(|| expand_file(&base, &rel, target)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::new(format!("internal compiler error while compiling `{rel}`: {what}; please report this")))
    });
    result.map_err(|e| syn::Error::new(lit.span(), e.to_string()))
}

/// Compile the spec at `rel` (relative to `base`, the crate root) into tokens.
pub fn expand_file(base: &Path, rel: &str, target: codegen::Target) -> Result<TokenStream, Error> {
    let c = compile_file(base, rel)?;
    let baked = match (&c.int8, &c.baked) {
        (Some((q, packed)), _) => Some(codegen::Baked::Int8(codegen::Int8 { q, packed })),
        (None, Some(floats)) => Some(codegen::Baked::F32(floats)),
        (None, None) => None,
    };
    Ok(codegen::generate(&c.program, baked, c.labels.as_deref(), &c.tracked, target))
}

/// Read, validate and compile the spec at `rel` (relative to `base`); fold its weights.
pub fn compile_file(base: &Path, rel: &str) -> Result<Compiled, Error> {
    let path = base.join(rel);
    let root = workspace_root(base);
    check_inside(&path, rel, &root, None)?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(format!(
            "cannot read spec `{rel}`: {e}; the path is relative to the crate root (the folder of its Cargo.toml)"
        ))
    })?;
    let source = SourceFile { display: rel.to_string(), text };
    let spec = spec::parse(&source)?;
    let program = passes::compile(&spec, &source)?;
    let mut tracked = codegen::Tracked { spec: Some(absolute(&path)), weights: None, labels: None, calibration: None };
    let labels = match &spec.labels {
        None => None,
        Some(l) => {
            let hint = "`labels` is relative to the spec's folder";
            let (file, shown, bytes) = read_named(&source, &path, rel, &root, "labels", l, hint)?;
            tracked.labels = Some(file);
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::at(locate(&source, &[Seg::Key("labels")]), format!("labels `{shown}` is not UTF-8 text"))
            })?;
            let names = labels::parse(&text, spec.num_classes)
                .map_err(|why| Error::at(locate(&source, &[Seg::Key("labels")]), format!("labels `{shown}`: {why}")))?;
            Some(names)
        }
    };
    let mut weight_bytes = None;
    let baked = match &spec.weights {
        None => None,
        Some(w) => {
            let at = || locate(&source, &[Seg::Key("weights")]);
            let hint = "`weights` is relative to the spec's folder (or remove the key and load weights at run time with from_safetensors)";
            let (file, shown, bytes) = read_named(&source, &path, rel, &root, "weights", w, hint)?;
            tracked.weights = Some(file);
            let folded = program.params.fold(&bytes).map_err(|e| {
                Error::at(
                    at(),
                    format!(
                        "weights `{shown}` do not fit this spec: {e}. Were they made for another width_mult, table or num_classes? Fix the spec or regenerate the weights"
                    ),
                )
            })?;
            weight_bytes = Some(bytes);
            Some(folded)
        }
    };
    let int8 = match (&spec.calibration, weight_bytes) {
        (Some(c), Some(weights)) if spec.precision == spec::Precision::Int8 => {
            quantize::check_depth(&program.network)
                .map_err(|why| Error::at(locate(&source, &[Seg::Key("precision")]), why))?;
            let at = || locate(&source, &[Seg::Key("calibration")]);
            let hint = "`calibration` is relative to the spec's folder";
            let (file, shown, bytes) = read_named(&source, &path, rel, &root, "calibration", c, hint)?;
            tracked.calibration = Some(file);
            let (n, images) = quantize::calibrate::read_images(&bytes, &program.network)
                .map_err(|why| Error::at(at(), format!("calibration `{shown}`: {why}")))?;
            let q = quantize::quantize(&program, &weights, &images, n)
                .map_err(|e| Error::at(at(), format!("calibrating with `{shown}` failed: {e}")))?;
            let packed = quantize::pack::pack(&q);
            Some((q, packed))
        }
        _ => None,
    };
    Ok(Compiled { source, program, baked, int8, labels, tracked })
}

/// Read `name`, which the spec at `path` (shown as `rel`) names under `key`, relative to its
/// folder: the file's absolute path, the path as the user reads it, and its bytes.
#[allow(clippy::too_many_arguments)]
fn read_named(
    source: &SourceFile,
    path: &Path,
    rel: &str,
    root: &Path,
    key: &str,
    name: &str,
    hint: &str,
) -> Result<(PathBuf, String, Vec<u8>), Error> {
    let file = path.parent().unwrap_or(Path::new(".")).join(name);
    let shown = Path::new(rel).parent().unwrap_or(Path::new("")).join(name).to_string_lossy().into_owned();
    let at = || locate(source, &[Seg::Key(key)]);
    check_inside(&file, &shown, root, Some(at()))?;
    let bytes =
        std::fs::read(&file).map_err(|e| Error::at(at(), format!("cannot read {key} `{shown}`: {e}; {hint}")))?;
    Ok((absolute(&file), shown, bytes))
}

/// The directory specs must stay inside: the outermost directory above `base` (the crate) whose
/// Cargo.toml declares a `[workspace]`, or the crate itself.
fn workspace_root(base: &Path) -> PathBuf {
    let base = absolute(base);
    let mut root = base.clone();
    for dir in base.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|m| m.lines().any(|l| l.trim() == "[workspace]")) {
            root = dir.to_path_buf();
        }
    }
    root
}

/// Refuse absolute paths and paths that leave the workspace: a build elsewhere (CI, a
/// colleague, `cargo package`) would not find them.
fn check_inside(path: &Path, shown: &str, root: &Path, at: Option<Location>) -> Result<(), Error> {
    let fail = |why: String| match &at {
        Some(loc) => Err(Error::at(loc.clone(), why)),
        None => Err(Error::new(why)),
    };
    if Path::new(shown).is_absolute() {
        return fail(format!(
            "`{shown}` is an absolute path; write it relative to {} so the crate builds on other machines",
            if at.is_some() { "the spec's folder" } else { "the crate root (CARGO_MANIFEST_DIR)" }
        ));
    }
    // Only paths that exist can be resolved; a missing file is reported when it is read.
    if let Ok(real) = std::fs::canonicalize(path) {
        if !real.starts_with(root) {
            return fail(format!(
                "`{shown}` leads outside this crate and its workspace; move the file into the crate so builds elsewhere (CI, `cargo package`) find it"
            ));
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Parse and compile spec text without touching the file system (weights are not read).
pub fn compile_str(display: &str, text: &str) -> Result<Program, Error> {
    let source = SourceFile { display: display.to_string(), text: text.to_string() };
    let spec = spec::parse(&source)?;
    passes::compile(&spec, &source)
}
