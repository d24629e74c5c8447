//! Puts `memory.x` where cortex-m-rt's `link.x` finds it, and extracts the golden case (input
//! images and torchvision's logits) from the repository's fixture as raw little-endian f32.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let fixture = "../../fixtures/v2_0.35_96_c10/io.safetensors";
    println!("cargo:rerun-if-changed={fixture}");
    let bytes = std::fs::read(fixture).expect("read the golden fixture");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors fixture");
    for (name, file) in [("input_nhwc", "input.bin"), ("logits", "logits.bin")] {
        let t = st.tensor(name).expect("fixture tensor");
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name} is f32");
        std::fs::write(out.join(file), t.data()).expect("write golden data");
    }
}
