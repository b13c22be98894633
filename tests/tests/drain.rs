//! A rolling update stops a gateway with SIGTERM while clients are using it:
//! it stops accepting connections at once, answers the request it is in the
//! middle of, and only then exits, with status 0. The request is held open
//! by sending its body in two parts, so it is provably in flight when the
//! signal arrives.

use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use tessera_tests::wait::until;
use tessera_tests::Standalone;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const COLLECTION: &str = "draining";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_finishes_the_request_in_flight() {
    // tower-http logs each request as it starts, at debug.
    let mut standalone = Standalone::start_with(&[("LOG__LEVEL", "info,tower_http=debug")]).await;
    let rest = standalone.rest();
    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({ "vectors": { "size": 2, "distance": "Dot" } }),
        )
        .await;
    assert_eq!(created.result(), &json!(true));
    let started_before = started_requests(&standalone);

    // An upsert whose body arrives in two parts.
    let (body_tx, body_rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let url = format!(
        "{}/collections/{COLLECTION}/points?wait=true",
        standalone.http_url()
    );
    let upsert = tokio::spawn(async move {
        reqwest::Client::new()
            .put(url)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(ReceiverStream::new(body_rx)))
            .send()
            .await
    });
    let body = json!({ "points": [
        { "id": 1, "vector": [1.0, 0.0] },
        { "id": 2, "vector": [0.0, 1.0] },
    ] })
    .to_string();
    let (first, rest_of_body) = body.split_at(body.len() / 2);
    body_tx
        .send(Ok(first.as_bytes().to_vec()))
        .await
        .expect("the request takes its body");
    until(
        "the gateway to start the upsert",
        Duration::from_secs(30),
        || {
            let started = started_requests(&standalone);
            async move {
                (started > started_before)
                    .then_some(())
                    .ok_or_else(|| "not started yet".to_string())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    standalone.send_sigterm();
    let port = standalone
        .http_url()
        .rsplit(':')
        .next()
        .expect("a port")
        .to_string();
    until(
        "the REST port to refuse connections",
        Duration::from_secs(30),
        || {
            let refused = TcpStream::connect(format!("127.0.0.1:{port}")).is_err();
            async move {
                refused
                    .then_some(())
                    .ok_or_else(|| "still accepting".to_string())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    body_tx
        .send(Ok(rest_of_body.as_bytes().to_vec()))
        .await
        .expect("the request takes the rest of its body");
    drop(body_tx);
    let reply = upsert
        .await
        .expect("the upsert task")
        .expect("an answer to the request in flight");
    assert!(reply.status().is_success(), "{}", reply.status());
    let reply: serde_json::Value = reply.json().await.expect("a JSON answer");
    assert_eq!(reply["result"]["status"], json!("completed"));
    let status = standalone.wait_exit().await;
    assert!(status.success(), "exited with {status}");
}

/// How many requests the gateway has started, by its debug log.
fn started_requests(standalone: &Standalone) -> usize {
    standalone
        .log()
        .matches("started processing request")
        .count()
}
