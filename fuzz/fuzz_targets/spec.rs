#![no_main]
//! Arbitrary text -> spec parsing, validation, IR, fusion and memory plan.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mobilenet_compiler::fuzzing::spec(data));
