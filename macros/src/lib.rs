//! `mobilenet!`: all the work happens in `mobilenet-compiler`.
#![forbid(unsafe_code)]

use mobilenet_compiler::codegen::Target;
use proc_macro::TokenStream;

/// Compile the MobileNetV2 spec at the given path (relative to `CARGO_MANIFEST_DIR`).
#[proc_macro]
pub fn mobilenet(input: TokenStream) -> TokenStream {
    // `std` is on exactly when the runtime's is: the runtime's `std` feature turns on ours.
    let target = if cfg!(feature = "std") { Target::STD } else { Target::NO_STD };
    mobilenet_compiler::expand(input.into(), target).unwrap_or_else(|e| e.to_compile_error()).into()
}
