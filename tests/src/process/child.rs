//! One spawned `tessera` process: its arguments, log file and lifecycle.

use super::*;

/// One `tessera` process that can be stopped, killed and started again with
/// the same arguments and environment.
pub(super) struct Process {
    pub(super) name: String,
    pub(super) args: Vec<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) log: PathBuf,
    pub(super) child: Option<Child>,
    /// The network namespace it runs in (through `ip netns exec`, which execs
    /// in place, so the PID is still the server's).
    pub(super) netns: Option<String>,
}

impl Process {
    pub(super) fn spawn_with_env(
        name: &str,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log_dir: &Path,
    ) -> Process {
        Self::spawn_in(name, args, env, None, log_dir)
    }

    pub(super) fn spawn_in(
        name: &str,
        args: Vec<String>,
        env: Vec<(String, String)>,
        netns: Option<String>,
        log_dir: &Path,
    ) -> Process {
        let mut process = Process {
            name: name.to_string(),
            args,
            env,
            log: log_dir.join(format!("{name}.log")),
            child: None,
            netns,
        };
        process.start();
        process
    }

    pub(super) fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()));
        // Restarts append to the same log; this line marks where each run begins.
        writeln!(log, "$ tessera {}", self.args.join(" ")).expect("write the log");
        let stdout: File = log.try_clone().expect("duplicate the log handle");
        let mut command = match &self.netns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns]).arg(tessera_bin());
                command
            }
            None => Command::new(tessera_bin()),
        };
        let child = command
            .args(&self.args)
            .current_dir(self.log.parent().expect("logs live in a directory"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_BACKTRACE",
                std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "1".into()),
            )
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
    }

    /// Fails with the exit status when the process has exited on its own.
    pub(super) fn check_alive(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(format!("{} exited unexpectedly with {status}", self.name))
            }
            Err(e) => Err(format!("cannot query {}: {e}", self.name)),
        }
    }

    pub(super) fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, then reap, so the PID is never signalled again.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to the PID we spawned; it only fails
            // when the process has already exited, which wait() then reaps.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit. A process that does not stop within
    /// STOP_TIMEOUT is killed and the test fails.
    pub(super) async fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit().await
    }

    /// SIGSTOP: the process keeps its sockets open but answers nothing, as
    /// a stalled or overloaded process does, until [`Process::resume`].
    pub(super) fn pause(&mut self) {
        self.signal(libc::SIGSTOP, "SIGSTOP");
    }

    /// SIGCONT after [`Process::pause`].
    pub(super) fn resume(&mut self) {
        self.signal(libc::SIGCONT, "SIGCONT");
    }

    fn signal(&mut self, signal: libc::c_int, name: &str) {
        let Some(child) = self.child.as_mut() else {
            panic!("{} is not running", self.name);
        };
        let pid = libc::pid_t::try_from(child.id()).expect("PIDs fit in pid_t");
        // SAFETY: kill(2) on a PID we spawned and have not reaped, so it cannot
        // have been reused by another process; no memory is involved.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "cannot send {name} to {}", self.name);
    }

    /// SIGTERM, without waiting for the exit. A paused process is resumed
    /// first, or it would never see the signal.
    pub(super) fn send_sigterm(&mut self) {
        self.signal(libc::SIGCONT, "SIGCONT");
        self.signal(libc::SIGTERM, "SIGTERM");
    }

    /// Waits for the exit (after a SIGTERM); a process that does not exit
    /// within STOP_TIMEOUT is killed and the test fails.
    pub(super) async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let Some(child) = self.child.as_mut() else {
                panic!("{} is not running", self.name);
            };
            if let Some(status) = child.try_wait().expect("query the child") {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the process gracefully and fails the test unless it exits 0.
    pub(super) async fn stop(&mut self) {
        if self.child.is_some() {
            let status = self.terminate().await;
            assert!(
                status.success(),
                "{} exited with {status} after SIGTERM",
                self.name
            );
        }
    }

    pub(super) fn tail(&self) -> String {
        let text = std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log.display()));
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        format!(
            "---- {} (last {} lines of {}) ----\n{}\n",
            self.name,
            lines.len() - start,
            self.log.display(),
            lines[start..].join("\n")
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(super) fn print_tails_if_panicking<'a>(processes: impl IntoIterator<Item = &'a Process>) {
    if std::thread::panicking() {
        for process in processes {
            eprintln!("{}", process.tail());
        }
    }
}

/// Waits until something accepts TCP connections on `port`, failing early
/// when `process` dies meanwhile.
pub(super) async fn wait_listening(process: &mut Process, addr: SocketAddr) {
    wait::until(
        &format!("{} to accept connections on {addr}", process.name),
        READY_TIMEOUT,
        || {
            if let Err(e) = process.check_alive() {
                panic!("after start: {e}");
            }
            async move {
                TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                    .map(drop)
                    .map_err(|e| format!("connect {addr}: {e}"))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
