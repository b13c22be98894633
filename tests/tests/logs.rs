//! An operator who ships logs to a collector asks for JSON
//! (`log.format: json`, or `--log-format json`): every line Tessera writes is
//! then one JSON object with a timestamp, a level and a message.

use serde_json::Value;
use tessera_tests::Standalone;

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let mut standalone = Standalone::start_with(&[("LOG__FORMAT", "json")]).await;
    standalone.rest().get("/collections").await.result();
    standalone.stop().await;
    let log = standalone.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| !line.starts_with("$ tessera"))
        .collect();
    assert!(lines.len() > 3, "too few log lines: {log}");
    for line in &lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for key in ["timestamp", "level", "fields"] {
            assert!(entry.get(key).is_some(), "no {key} in {line}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Tessera standalone is ready")),
        "{log}"
    );
}
