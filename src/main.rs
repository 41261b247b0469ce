//! The `mousexray` executable: a thin shell over the library.

fn main() -> std::process::ExitCode {
    mousexray::cli::main()
}
