//! A raw HTTP/1.1 client over a tokio `TcpStream`: one request per connection
//! (`Connection: close`), what `curl` sends and nothing more, so a test sees exactly what the
//! server answers (status, headers, a chunked body decoded).

use serde_json::Value;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The longest one [`request`] may take: a hang becomes a failure, never a stuck test.
pub const LIMIT: Duration = Duration::from_secs(60);

/// An answer: status code, headers (names in lower case) and the whole body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers in the order received, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, chunked transfer decoded, invalid UTF-8 replaced.
    pub body: String,
}

impl Response {
    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with `headers` and `body` (with its `Content-Length`) and reads the
/// whole answer; bounded by [`LIMIT`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<Response> {
    let exchange = async {
        let mut stream = Stream::open(addr, method, path, headers, body).await?;
        let body = stream.rest().await?;
        Ok(Response {
            status: stream.status,
            headers: stream.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(LIMIT, exchange).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{method} {path}: no answer within {LIMIT:?}"),
        )
    })?
}

/// GET `path`; panics when there is no answer (connection refused, timed out, not HTTP).
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], "")
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// An answer whose body is read as it arrives: a watch, or any long chunked stream.
#[derive(Debug)]
pub struct Stream {
    reader: BufReader<TcpStream>,
    chunked: bool,
    /// The status code.
    pub status: u16,
    /// The headers in the order received, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Stream {
    /// Sends the request and reads the status line and headers (not bounded: wrap it in a
    /// timeout where the server may never answer).
    pub async fn open(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        // One write: a server (or a test's fake) reading once sees the whole request.
        head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(head.as_bytes()).await?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("no status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Err(bad("no end of headers".into()));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
        Ok(Self {
            reader,
            chunked,
            status,
            headers,
        })
    }

    /// The next piece of the body: a chunk of a chunked body, else whatever arrives next;
    /// `None` at its end.
    pub async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if !self.chunked {
            let mut buf = vec![0; 8192];
            let n = self.reader.read(&mut buf).await?;
            buf.truncate(n);
            return Ok((n > 0).then_some(buf));
        }
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            return Ok(None);
        }
        // The chunk and its CRLF.
        let mut buf = vec![0; size + 2];
        self.reader.read_exact(&mut buf).await?;
        buf.truncate(size);
        Ok(Some(buf))
    }

    /// The rest of the body.
    pub async fn rest(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        if self.chunked {
            while let Some(chunk) = self.next_chunk().await? {
                out.extend_from_slice(&chunk);
            }
        } else {
            self.reader.read_to_end(&mut out).await?;
        }
        Ok(out)
    }
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `answer` once on a fresh port; returns the port and what the client sent.
    async fn serve_once(answer: &'static str) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = vec![0; 4096];
            let n = s.read(&mut seen).await.unwrap();
            s.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&seen[..n]).into_owned()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_chunked_answer_is_decoded_and_the_request_is_what_curl_sends() {
        let (addr, sent) = serve_once(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Seen: yes\r\n\r\n\
             5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await;
        let r = request(
            addr,
            "POST",
            "/p?q=1",
            &[("Authorization", "Bearer t")],
            "{}",
        )
        .await
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "hello world"));
        assert_eq!(r.header("x-seen"), Some("yes"));
        assert_eq!(r.header("X-SEEN"), Some("yes"));
        let sent = sent.await.unwrap();
        assert!(sent.starts_with("POST /p?q=1 HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("Authorization: Bearer t\r\n"), "{sent}");
        assert!(sent.ends_with("Content-Length: 2\r\n\r\n{}"), "{sent}");
    }

    #[tokio::test]
    async fn a_plain_answer_is_read_to_the_end_and_json_parses() {
        let (addr, _) =
            serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n{\"a\": 1}\n").await;
        let r = get(addr, "/").await;
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["a"], 1);
    }

    #[tokio::test]
    async fn no_status_line_is_an_error() {
        let (addr, _) = serve_once("garbage\r\n\r\n").await;
        let e = request(addr, "GET", "/", &[], "").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }
}
