//! A thin REST client for tests that need the raw HTTP status and JSON body,
//! which the Qdrant client libraries hide behind their own error types.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Longer than the gateway's own 30 s replica timeout, so a slow replica shows
/// up as the gateway's answer rather than as a client-side timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// One HTTP answer: its status and its body, parsed as JSON when it is JSON
/// and kept as a JSON string otherwise (e.g. `/readyz`'s plain text).
#[derive(Debug, Clone)]
pub struct Reply {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// `result` of a successful Qdrant envelope; panics with the request, the
    /// status and the body otherwise.
    pub fn result(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "{} {} answered {}: {}",
            self.method,
            self.path,
            self.status,
            self.body
        );
        self.body.get("result").unwrap_or_else(|| {
            panic!(
                "{} {} answered {} without `result`: {}",
                self.method, self.path, self.status, self.body
            )
        })
    }

    /// Checks Qdrant's error envelope `{"status": {"error": "..."}, "time": s}`
    /// with the given status code and returns the error message.
    pub fn expect_error(&self, status: StatusCode) -> &str {
        assert_eq!(
            self.status, status,
            "{} {}: unexpected status; body {}",
            self.method, self.path, self.body
        );
        assert!(
            self.body.get("time").is_some_and(Value::is_number),
            "{} {}: error body lacks a numeric `time`: {}",
            self.method,
            self.path,
            self.body
        );
        assert!(
            self.body.get("result").is_none(),
            "{} {}: error body carries a `result`: {}",
            self.method,
            self.path,
            self.body
        );
        match self.body.pointer("/status/error").and_then(Value::as_str) {
            Some(message) if !message.is_empty() => message,
            _ => panic!(
                "{} {}: body is not Qdrant's error envelope {{\"status\":{{\"error\":..}}}}: {}",
                self.method, self.path, self.body
            ),
        }
    }
}

/// REST client bound to one base URL such as `http://127.0.0.1:6333`.
#[derive(Debug, Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
    /// Sent as the `api-key` header with every request, when set.
    api_key: Option<String>,
}

impl Rest {
    pub fn new(base_url: impl Into<String>) -> Rest {
        Rest {
            client: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("reqwest client builds"),
            base: base_url.into().trim_end_matches('/').to_string(),
            api_key: None,
        }
    }

    /// A client of an `https://` base URL whose certificate `ca_pem` signed.
    pub fn with_ca(base_url: impl Into<String>, ca_pem: &str) -> Rest {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("a PEM certificate");
        Rest {
            client: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .add_root_certificate(ca)
                .build()
                .expect("reqwest client builds"),
            base: base_url.into().trim_end_matches('/').to_string(),
            api_key: None,
        }
    }

    /// The same client presenting `key` as its API key (none: no key).
    pub fn with_api_key(&self, key: Option<&str>) -> Rest {
        Rest {
            api_key: key.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Sends one request; an error means no HTTP answer arrived at all.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Reply> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = &self.api_key {
            request = request.header("api-key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply {
            method,
            path: path.to_string(),
            status,
            body,
        })
    }

    /// Like [`Rest::send`], but a missing answer fails the test.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        match self.send(method.clone(), path, body).await {
            Ok(reply) => reply,
            Err(e) => panic!("{method} {}{path}: no HTTP answer: {e}", self.base),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Upserts `(id, vector)` points into `collection` with `wait=true`; the
    /// write must complete.
    pub async fn upsert_vectors(&self, collection: &str, points: Vec<(u64, Vec<f32>)>) {
        let points: Vec<Value> = points
            .into_iter()
            .map(|(id, vector)| serde_json::json!({ "id": id, "vector": vector }))
            .collect();
        let reply = self
            .put(
                &format!("/collections/{collection}/points?wait=true"),
                &serde_json::json!({ "points": points }),
            )
            .await;
        assert_eq!(reply.result()["status"], "completed", "{:?}", reply.body);
    }

    /// `POST /collections/{c}/points/count` with `exact: true`.
    pub async fn count(&self, collection: &str) -> u64 {
        let reply = self
            .post(
                &format!("/collections/{collection}/points/count"),
                &serde_json::json!({ "exact": true }),
            )
            .await;
        reply.result()["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("count is not a number: {}", reply.body))
    }
}
