//! The `zion` binary: parses the command line and runs it (see the library).

use std::process::ExitCode;

use clap::Parser;
use zion_cli::cli::{Cli, Output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.global.output;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(zion_cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // With --output json, the error is JSON on stdout, where the
            // result would have been: a script reads one stream.
            match output {
                _ if f.message.is_empty() => {}
                Output::Json => println!("{}", f.to_json()),
                Output::Text => eprintln!("error: {}", f.message),
            }
            ExitCode::from(f.code)
        }
    }
}
