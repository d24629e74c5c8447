//! The MobileNetV2 ahead-of-time compiler: YAML spec -> layer IR -> passes -> Rust tokens.
//!
//! `mobilenet-macros` is a thin shim over [`expand`]; everything here is a plain library, so
//! the whole pipeline is testable without a proc-macro context.

pub mod codegen;
pub mod error;
pub mod init_weights;
pub mod ir;
pub mod passes;
pub mod reference;
pub mod spec;
pub mod summary;

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
    pub tracked: codegen::Tracked,
}

/// Expand `mobilenet!("path/to/spec.yaml")`. Errors point at the string literal.
pub fn expand(input: TokenStream) -> Result<TokenStream, syn::Error> {
    let lit: syn::LitStr = syn::parse2(input.clone()).map_err(|_| {
        syn::Error::new_spanned(
            &input,
            "mobilenet! takes one string literal, the spec path relative to the crate root: mobilenet!(\"models/v2.yaml\")",
        )
    })?;
    let base = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let rel = lit.value();
    // A panic must never reach the user as "proc macro panicked": report it as an error.
    let result = std::panic::catch_unwind(|| expand_file(&base, &rel)).unwrap_or_else(|panic| {
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
pub fn expand_file(base: &Path, rel: &str) -> Result<TokenStream, Error> {
    let c = compile_file(base, rel)?;
    Ok(codegen::generate(&c.program, c.baked.as_deref(), &c.tracked))
}

/// Read, validate and compile the spec at `rel` (relative to `base`); fold its weights.
pub fn compile_file(base: &Path, rel: &str) -> Result<Compiled, Error> {
    let path = base.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(format!(
            "cannot read spec `{rel}` ({}): {e}; the path is relative to the crate root ({})",
            path.display(),
            base.display()
        ))
    })?;
    let source = SourceFile { display: rel.to_string(), text };
    let spec = spec::parse(&source)?;
    let program = passes::compile(&spec, &source)?;
    let mut tracked = codegen::Tracked { spec: Some(absolute(&path)), weights: None };
    let baked = match &spec.weights {
        None => None,
        Some(w) => {
            let wpath = path.parent().unwrap_or(Path::new(".")).join(w);
            let shown = Path::new(rel).parent().unwrap_or(Path::new("")).join(w);
            let at = || locate(&source, &[Seg::Key("weights")]);
            let bytes = std::fs::read(&wpath).map_err(|e| {
                Error::at(
                    at(),
                    format!(
                        "cannot read weights `{}`: {e}; `weights` is relative to the spec's folder (or remove the key and load weights at run time with from_safetensors)",
                        shown.display()
                    ),
                )
            })?;
            tracked.weights = Some(absolute(&wpath));
            let folded = program.params.fold(&bytes).map_err(|e| {
                Error::at(
                    at(),
                    format!(
                        "weights `{}` do not fit this spec: {e}. Were they made for another width_mult, table or num_classes? Fix the spec or regenerate the weights",
                        shown.display()
                    ),
                )
            })?;
            Some(folded)
        }
    };
    Ok(Compiled { source, program, baked, tracked })
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
