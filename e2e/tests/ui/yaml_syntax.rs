mobilenet_runtime::mobilenet!("specs/yaml_syntax.yaml");

fn main() {}
