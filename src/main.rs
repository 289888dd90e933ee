//! The `rflume` binary (also `flume-ng` through a symlink). All logic is in the library's `cli`.

fn main() {
    std::process::exit(rflume::cli::main());
}
