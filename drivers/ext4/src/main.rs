//! `yoe-ext4`: the ext4 image writer on its own, with the same options as `yoe image ext4`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "yoe-ext4", version, about = "Write a reproducible ext4 image from an ownership manifest")]
struct Cli {
    #[command(flatten)]
    args: yoe_ext4::cli::Ext4Args,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match yoe_ext4::cli::run(&cli.args) {
        Ok(report) => {
            let text =
                if cli.json { serde_json::to_string_pretty(&report).unwrap_or_default() } else { report.to_string() };
            #[allow(clippy::print_stdout)]
            {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
