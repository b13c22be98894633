//! `tessera`: one binary for every role. See `tessera --help`.

mod cli;
mod config;
mod playground;
mod probe;
mod roles;
mod telemetry;
mod tls;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let command = cli::Cli::parse().command();
    let settings = config::Settings::load(&command)?;
    tessera_runtime::internal_auth::install(&settings.cluster.internal_token)
        .map_err(anyhow::Error::msg)?;
    // Every TLS user here (tonic, axum-server, reqwest) runs on ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tessera_runtime::tls::install(tls::internal(&settings, command.service())?)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let telemetry = {
        let _in_runtime = runtime.enter();
        telemetry::init(&settings, command.service())?
    };
    let result = runtime.block_on(roles::run(command, settings));
    telemetry.shutdown();
    result
}
