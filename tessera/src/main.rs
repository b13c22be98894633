//! `tessera`: one binary for every role. See `tessera --help`.

mod cli;
mod config;
mod playground;
mod roles;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let settings = config::Settings::load(&cli)?;
    config::init_logging(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(roles::run(cli.command, settings))
}
