//! `yoe image ext4 ...`: the ext4 driver on its own (from a manifest or, for debugging, a
//! directory), so it can be exercised and benchmarked without a build.
use anyhow::Context;
use clap::{Args, Subcommand};

use super::{Global, exit, output};

#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Write an ext4 filesystem image from a manifest (see docs/ext4.md).
    Ext4(Box<yoe_ext4::cli::Ext4Args>),
}

pub fn run(g: &Global, a: ImageArgs) -> anyhow::Result<u8> {
    match a.command {
        ImageCommand::Ext4(args) => {
            let report = yoe_ext4::cli::run(&args).context("writing the ext4 image")?;
            if g.json {
                super::json::print(super::json::schema::IMAGE_EXT4, &report)?;
            } else {
                for l in report.to_string().lines() {
                    output::line(l);
                }
            }
            Ok(exit::OK)
        }
    }
}
