//! Where a snapshot to recover comes from: a `file://` path on the gateway's
//! machine or an `http://` URL (another Tessera or Qdrant's download link).

use futures::StreamExt;
use tessera_types::TesseraError;
use tokio::io::AsyncReadExt;

use super::ByteStream;

const CHUNK: usize = 1024 * 1024;

pub async fn open(location: &str, api_key: Option<&str>) -> Result<ByteStream, TesseraError> {
    if let Some(path) = location.strip_prefix("file://") {
        let file = tokio::fs::File::open(path).await.map_err(|e| {
            TesseraError::bad_input(format!("Snapshot file {path} cannot be read: {e}"))
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
