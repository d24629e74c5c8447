#![no_main]
//! Arbitrary bytes -> `from_safetensors`'s loader (parse, check, fold, pack).

libfuzzer_sys::fuzz_target!(|data: &[u8]| mobilenet_compiler::fuzzing::safetensors(data));
