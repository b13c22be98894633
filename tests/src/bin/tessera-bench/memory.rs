//! Resident memory of the Tessera processes on this machine, read from `/proc`
//! (Linux): what quantization and on-disk vectors save shows here.

/// Kilobytes of one `/proc/<pid>/status` field.
pub(crate) fn field_kb(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Prints the summed resident memory of every process named `tessera`, beside the
/// bytes the uploaded dense vectors take as floats, if any.
pub fn report(vector_bytes: Option<usize>) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        println!("memory   /proc is not readable here");
        return;
    };
    let (mut processes, mut rss, mut anon, mut file) = (0, 0, 0, 0);
    for entry in entries.flatten() {
        let dir = entry.path();
        let named_tessera =
            std::fs::read_to_string(dir.join("comm")).is_ok_and(|comm| comm.trim() == "tessera");
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        if named_tessera {
            processes += 1;
            rss += field_kb(&status, "VmRSS");
            anon += field_kb(&status, "RssAnon");
            file += field_kb(&status, "RssFile");
        }
    }
    let mb = |kb: u64| kb as f64 / 1024.0;
    println!();
    if processes == 0 {
        println!("memory   no process named `tessera` on this machine (a remote server?)");
        return;
    }
    let vectors = vector_bytes.map_or(String::new(), |bytes| {
        format!(
            "; the vectors take {:.0} MB as floats",
            bytes as f64 / 1024.0 / 1024.0
        )
    });
    println!(
        "memory   {processes} tessera process(es): resident {:.0} MB (anonymous {:.0} MB, file-backed {:.0} MB){vectors}",
        mb(rss),
        mb(anon),
        mb(file),
    );
}
