//! vipwire command line.
fn main() {}
