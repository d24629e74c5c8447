mobilenet_runtime::mobilenet!("specs/row_three_numbers.yaml");

fn main() {}
