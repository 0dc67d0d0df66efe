//! `inferno-optimizer`: solve allocation problems and analyse single queues from the shell.

use clap::Parser;
use inferno_optimizer::cli::{self, Args};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    // Stdout is line-buffered even into a file or pipe: pretty JSON of 27,000 servers was a
    // million write calls. Flushed below, so that a write error is still reported.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = cli::run(args, &mut out).and_then(|code| {
        out.flush().map_err(cli::CliError::Output)?;
        Ok(code)
    });
    match result {
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
