//! Where a snapshot to recover comes from: a `file://` path on the gateway's
//! machine or an `http://` URL (another Tessera or Qdrant's download link).

use futures::StreamExt;
use tessera_types::TesseraError;
use tokio::io::AsyncReadExt;

use super::ByteStream;

const CHUNK: usize = 1024 * 1024;

/// The path of a `file://` URI's remainder: `/abs/path` or
/// `localhost/abs/path`; any other host is refused, as Qdrant refuses it.
fn local_path(rest: &str) -> Result<String, TesseraError> {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if path.starts_with('/') {
        Ok(path.to_string())
    } else {
        Err(TesseraError::bad_request(
            "Invalid snapshot URI, file path must be absolute or on localhost",
        ))
    }
}

pub async fn open(location: &str, api_key: Option<&str>) -> Result<ByteStream, TesseraError> {
    if let Some(rest) = location.strip_prefix("file://") {
        let path = local_path(rest)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TesseraError::bad_request(format!("Snapshot file {path:?} does not exist"))
            } else {
                TesseraError::bad_input(format!("Snapshot file {path:?} cannot be read: {e}"))
            }
        })?;
        let chunks = futures::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut data = vec![0u8; CHUNK];
            match file.read(&mut data).await {
                Ok(0) => None,
                Ok(n) => {
                    data.truncate(n);
                    Some((Ok(data), Some(file)))
                }
                Err(e) => Some((Err(TesseraError::internal(e)), None)),
            }
        });
        return Ok(Box::pin(chunks));
    }
    if location.starts_with("http://") || location.starts_with("https://") {
        let mut request = reqwest::Client::new().get(location);
        if let Some(key) = api_key {
            request = request.header("api-key", key);
        }
        let response = request.send().await.map_err(|e| {
            TesseraError::bad_input(format!(
                "Snapshot cannot be downloaded from {location}: {e}"
            ))
        })?;
        if !response.status().is_success() {
            return Err(TesseraError::bad_input(format!(
                "Snapshot cannot be downloaded from {location}: HTTP {}",
                response.status()
            )));
        }
        let chunks = response.bytes_stream().map(|chunk| {
            chunk
                .map(|bytes| bytes.to_vec())
                .map_err(|e| TesseraError::Unavailable(format!("snapshot download broke off: {e}")))
        });
        return Ok(Box::pin(chunks));
    }
    Err(TesseraError::bad_input(format!(
        "Snapshot location `{location}` is neither a file:// path nor an http:// URL"
    )))
}
