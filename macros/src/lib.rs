//! `mobilenet!`: all the work happens in `mobilenet-compiler`.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// Compile the MobileNetV2 spec at the given path (relative to `CARGO_MANIFEST_DIR`).
#[proc_macro]
pub fn mobilenet(input: TokenStream) -> TokenStream {
    mobilenet_compiler::expand(input.into()).unwrap_or_else(|e| e.to_compile_error()).into()
}
