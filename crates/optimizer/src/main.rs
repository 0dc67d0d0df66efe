//! `inferno-optimizer`: solve allocation problems and analyse single queues from the shell.

use clap::Parser;
use inferno_optimizer::cli::{self, Args};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let mut out = std::io::stdout().lock();
    match cli::run(args, &mut out) {
        Ok(code) => code,
        // `| head` closing the pipe is not an error worth a message.
        Err(cli::CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("inferno-optimizer: {message}");
            ExitCode::from(1)
        }
    }
}
