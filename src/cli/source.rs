//! `yoe source fetch|verify [UNITS]`: fetch pinned sources into the content-addressed store,
//! or re-hash what is there.
use anyhow::bail;
use clap::{Args, Subcommand};

use super::{Global, Session, exit, output};
use crate::model::Project;
use crate::source::{Pin, Sources, StoreError, pin_of};

#[derive(Args, Debug)]
pub struct SourceArgs {
    #[command(subcommand)]
    pub command: SourceCommand,
}

#[derive(Subcommand, Debug)]
pub enum SourceCommand {
    /// Fetch the pinned sources of units (default: all) into the store.
    Fetch {
        units: Vec<String>,
        /// Fetch archives that have no `sha256` and print the hash to pin (development
        /// only: refused with --paranoid and under CI).
        #[arg(long)]
        allow_unpinned: bool,
    },
    /// Re-hash the stored sources of units (default: all) against their pins.
    Verify { units: Vec<String> },
}

/// The source store for a project, with `--allow-unpinned` checked against the rules.
pub fn sources(g: &Global, p: &Project, allow_unpinned: bool) -> anyhow::Result<Sources> {
    if g.paranoid {
        super::refuse(crate::paranoid::refusals(&crate::paranoid::Request { allow_unpinned, ..Default::default() }))?;
    }
    if allow_unpinned && crate::env::in_ci() {
        bail!("--allow-unpinned is refused when CI is set: pin every source with sha256 or commit");
    }
    let mut s = Sources::new(&crate::env::cache_dir(), &p.root);
    s.allow_unpinned = allow_unpinned;
    s.options.ca_certs = crate::env::var(crate::env::YOE_CA_CERTS).map(std::path::PathBuf::from);
    Ok(s)
}

pub fn run(g: &Global, a: SourceArgs) -> anyhow::Result<u8> {
    let s = Session::open(g)?;
    let p = &s.loaded.project;
    let (units, allow) = match &a.command {
        SourceCommand::Fetch { units, allow_unpinned } => (units.clone(), *allow_unpinned),
        SourceCommand::Verify { units } => (units.clone(), false),
    };
    let names = if units.is_empty() { s.graph.order()? } else { s.graph.plan(&units)? };
    let sources = sources(g, p, allow)?;
    let mut failed = false;
    for n in names {
        let u = &p.units[&n];
        if u.source.is_empty() {
            continue;
        }
        match &a.command {
            SourceCommand::Fetch { .. } => {
                let notify = |m: &str| output::status(m);
                match sources.ensure(u, &notify) {
                    Ok(Some(f)) => output::line(&format!(
                        "{:<8} {n:<24} {} {}",
                        if f.reused { "cached" } else { "fetched" },
                        f.sha256,
                        u.source
                    )),
                    Ok(None) => {}
                    Err(e) => {
                        failed = true;
                        output::status(&format!("error: {e}"));
                    }
                }
            }
            SourceCommand::Verify { .. } => match pin_of(u, false) {
                Err(e) => {
                    failed = true;
                    output::line(&format!("unpinned {n:<24} {e}"));
                }
                Ok(Some(Pin::Archive { sha256: Some(sha), .. })) => match sources.stored(&sha) {
                    Ok(Some(_)) => output::line(&format!("ok       {n:<24} {sha}")),
                    Ok(None) => {
                        failed = true;
                        output::line(&format!("missing  {n:<24} {sha} (run `yoe source fetch {n}`)"));
                    }
                    Err(StoreError::Corrupt { actual, .. }) => {
                        failed = true;
                        output::line(&format!(
                            "corrupt  {n:<24} {sha} hashed to {actual}; removed (run `yoe source fetch {n}`)"
                        ));
                    }
                    Err(e) => {
                        failed = true;
                        output::line(&format!("error    {n:<24} {e}"));
                    }
                },
                Ok(Some(Pin::Git { url, commit })) => match sources.verify_git(u, &url, &commit) {
                    Ok(true) => output::line(&format!("ok       {n:<24} {commit}")),
                    Ok(false) => {
                        failed = true;
                        output::line(&format!("missing  {n:<24} {commit} (run `yoe source fetch {n}`)"));
                    }
                    Err(e) => {
                        failed = true;
                        output::line(&format!("corrupt  {n:<24} {e} (run `yoe source fetch {n}`)"));
                    }
                },
                Ok(_) => {}
            },
        }
    }
    Ok(if failed { exit::FAILURE } else { exit::OK })
}
