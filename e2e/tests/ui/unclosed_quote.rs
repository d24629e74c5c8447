mobilenet_runtime::mobilenet!("specs/unclosed_quote.yaml");

fn main() {}
