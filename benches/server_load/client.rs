//! A small HTTP/1.1 client for the set-up requests and the fan-out sender: requests are
//! written as raw bytes, answers framed with httparse (`Content-Length` bodies only, which
//! is all `rvp-server` ever sends).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for one answer.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer accepted (head and body).
const MAX_REPLY: usize = 1 << 20;

/// One answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// The whole answer as received (head and body).
    pub(crate) raw: Vec<u8>,
}

/// Reads answers off a byte stream, one after the other (pipelining-safe).
#[derive(Debug)]
pub(crate) struct Reader<R> {
    r: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub(crate) fn new(r: R) -> Self {
        Reader {
            r,
            buf: Vec::with_capacity(8192),
        }
    }

    /// The next answer; an error on EOF, on bytes that are not HTTP, or after
    /// [`REPLY_TIMEOUT`].
    pub(crate) async fn next(&mut self) -> io::Result<Reply> {
        tokio::time::timeout(REPLY_TIMEOUT, self.next_inner())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 30 s"))?
    }

    async fn next_inner(&mut self) -> io::Result<Reply> {
        loop {
            if let Some((status, total)) = frame(&self.buf)?
                && self.buf.len() >= total
            {
                let raw: Vec<u8> = self.buf.drain(..total).collect();
                return Ok(Reply { status, raw });
            }
            if self.buf.len() > MAX_REPLY {
                return Err(io::Error::other("answer larger than 1 MiB"));
            }
            let n = self.r.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a complete answer",
                ));
            }
        }
    }
}

/// `Some((status, total length))` once the head is complete.
fn frame(buf: &[u8]) -> io::Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let head_len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::other(format!("bad answer: {e}"))),
    };
    let mut len = 0usize;
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| io::Error::other("bad Content-Length in an answer"))?;
        }
    }
    Ok(Some((res.code.unwrap_or(0), head_len + len)))
}

/// One keep-alive connection, one request at a time.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Reader<TcpStream>,
}

impl Conn {
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            stream: Reader::new(s),
        })
    }

    /// Writes `request` and reads its answer.
    pub(crate) async fn send(&mut self, request: &[u8]) -> io::Result<Reply> {
        self.stream.r.write_all(request).await?;
        self.stream.next().await
    }
}

/// Request bytes: start line, `Host: localhost`, `RVP-Notifications-Version: 0.2`, the
/// given headers, `Content-Length`, body.
pub(crate) fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut s = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nRVP-Notifications-Version: 0.2\r\n"
    );
    for (n, v) in headers {
        s.push_str(n);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.push_str(body);
    s.into_bytes()
}
