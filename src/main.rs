//! The `mousexray` executable: a thin shell over the library.

fn main() -> std::process::ExitCode {
    // burn puts state it loads without a device (the optimizer's, on `--resume`) on its default
    // device, which prefers the GPU backend when it is compiled in: a CPU run on a machine
    // without a GPU would fail there. The CPU is this program's default; `--device gpu` asks.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // Safe here: nothing else runs yet, so no other thread reads the environment.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("BURN_DEVICE", "flex");
        }
    }
    mousexray::cli::main()
}
