//! `tessera playground`: a local cluster of separate processes (this same
//! binary in each role) on loopback, stopped together on Ctrl-C.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::config::Settings;

/// A free loopback port, found by binding port 0.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `tessera args...`, with the playground's own settings file if it
/// was given one (its flags here win over the file).
fn spawn(
    name: &str,
    args: &[String],
    config: Option<&Path>,
    log_dir: &Path,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the tessera binary")?;
    let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
    let config = config
        .map(|file| vec!["--config".into(), file.display().to_string()])
        .unwrap_or_default();
    Command::new(exe)
        .args(args)
        .args(config)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name}"))
}

pub async fn run(
    settings: Settings,
    data_nodes: usize,
    config: Option<PathBuf>,
) -> anyhow::Result<()> {
    let config = config.as_deref();
    let root = settings.storage.data_dir.join("playground");
    std::fs::create_dir_all(&root)?;
    let mut children: Vec<(String, Child)> = Vec::new();

    let cp_uri = format!("http://127.0.0.1:{}", free_port()?);
    let cp_dir = root.join("control-plane");
    children.push((
        "control-plane".into(),
        spawn(
            "control-plane",
            &[
                "control-plane".into(),
                "--uri".into(),
                cp_uri.clone(),
                "--data-dir".into(),
                cp_dir.display().to_string(),
            ],
            config,
            &root,
        )?,
    ));
    for i in 1..=data_nodes {
        let name = format!("data-plane-{i}");
        let uri = format!("http://127.0.0.1:{}", free_port()?);
        let dir = root.join(&name);
        let child = spawn(
            &name,
            &[
                "data-plane".into(),
                "--control-plane".into(),
                cp_uri.clone(),
                "--uri".into(),
                uri,
                "--data-dir".into(),
                dir.display().to_string(),
            ],
            config,
            &root,
        )?;
        children.push((name, child));
    }
    let http = settings.service.http_port;
    let grpc = settings.service.grpc_port;
    children.push((
        "gateway".into(),
        spawn(
            "gateway",
            &[
                "gateway".into(),
                "--control-plane".into(),
                cp_uri.clone(),
                "--http-port".into(),
                http.to_string(),
                "--grpc-port".into(),
                grpc.to_string(),
            ],
            config,
            &root,
        )?,
    ));
    println!("Tessera playground: 1 control plane, {data_nodes} data nodes, 1 gateway");
    println!("  REST  http://localhost:{http}   (try: curl localhost:{http}/cluster)");
    println!("  gRPC  http://localhost:{grpc}");
    println!("  control plane {cp_uri}");
    println!("  data and logs under {}", root.display());
    println!("Press Ctrl-C to stop every process.");

    tokio::select! {
        _ = crate::roles::shutdown_signal() => {}
        exited = wait_any(&mut children) => {
            eprintln!("{exited} exited; stopping the playground (see its log under {})", root.display());
        }
    }
    for (name, child) in children.iter_mut().rev() {
        terminate(name, child).await;
    }
    Ok(())
}

/// Waits until any child exits and names it.
async fn wait_any(children: &mut [(String, Child)]) -> String {
    let waits = children.iter_mut().map(|(name, child)| {
        Box::pin(async move {
            let _ = child.wait().await;
            name.clone()
        })
    });
    futures::future::select_all(waits).await.0
}

/// Asks a child to stop (SIGTERM), then kills it if it has not within 10 s.
async fn terminate(name: &str, child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid we spawned and still own; no memory is touched.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await {
        Ok(_) => println!("stopped {name}"),
        Err(_) => {
            let _ = child.kill().await;
            println!("killed {name} (it did not stop within 10 s)");
        }
    }
}
