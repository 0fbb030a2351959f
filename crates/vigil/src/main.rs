//! vigil's command line: all of it is in the library ([`vigil::cli`]).

fn main() -> std::process::ExitCode {
    vigil::cli::main()
}
