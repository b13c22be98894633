//! `tessera probe URL`: one plain HTTP GET with a deadline, for container
//! health checks in an image that holds nothing but the binary.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Succeeds when `url` (`http://host:port/path`) answers with a 2xx status.
pub fn check(url: &str) -> anyhow::Result<()> {
    let status = get_status(url).map_err(|e| anyhow::anyhow!("probe {url}: {e}"))?;
    anyhow::ensure!((200..300).contains(&status), "probe {url}: status {status}");
    Ok(())
}

fn get_status(url: &str) -> std::io::Result<u16> {
    let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are probed"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid("the host resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 32];
    let read = stream.read(&mut head)?;
    // "HTTP/1.x 200 ..."
    std::str::from_utf8(&head[..read])
        .ok()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("the answer is not HTTP"))
}
