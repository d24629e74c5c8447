mobilenet_runtime::mobilenet!("specs/empty_table.yaml");

fn main() {}
