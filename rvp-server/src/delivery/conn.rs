//! One NOTIFY exchange over TCP, or TLS on TCP for a destination with a TLS name: connect
//! (or reuse), write the exact bytes, read the answer with `rvp_proto`'s response parser
//! (Content-Length or close-delimited, bare LF).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use http::StatusCode;
use rvp_proto::codec::{ResponseParser, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use super::{DeliveryConfig, Destination, FailureReason, TlsFailure};

/// The TLS client of a deliverer (a type that has no values without the `tls` feature).
#[cfg(feature = "tls")]
pub(crate) type TlsClient = crate::tls::TlsClient;
/// The TLS client of a deliverer (a type that has no values without the `tls` feature).
#[cfg(not(feature = "tls"))]
pub(crate) type TlsClient = std::convert::Infallible;

/// The byte stream to a destination.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// Bytes read per `read` call.
const READ_CHUNK: usize = 4096;

/// An open connection to a destination that may carry the next NOTIFY.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    buf: BytesMut,
}

impl Conn {
    /// Whether the peer is still there: no EOF, no error, no unsolicited bytes. On TLS the
    /// probe reads the TCP socket under the TLS layer: any byte there (an alert, a
    /// close_notify) makes the connection one to drop, so consuming it harms nothing.
    fn is_reusable(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.tcp().try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// How one attempt ended.
enum Attempt {
    Done(StatusCode, Option<Conn>),
    /// The connection was reused and died before a single response byte: safe to retry
    /// once on a fresh connection.
    StaleConnection,
    Failed(FailureReason),
}

/// A new connection: TCP, then (for a TLS destination) the handshake, both within one
/// [`DeliveryConfig::connect_timeout`]. A TLS failure is final: no plain HTTP instead.
async fn connect(
    dest: &Destination,
    config: &DeliveryConfig,
    tls: Option<&TlsClient>,
) -> Result<Conn, FailureReason> {
    if dest.tls_name().is_some() && tls.is_none() {
        // Not even a TCP connection: nothing may go there in the clear.
        tracing::warn!(
            destination = %dest,
            "NOTIFY not delivered: the call-back's server asks for TLS and this server has \
             no TLS client"
        );
        return Err(FailureReason::Tls(TlsFailure::Unavailable));
    }
    let deadline = Instant::now() + config.connect_timeout;
    let tcp = match timeout_at(deadline, TcpStream::connect(dest.addr())).await {
        Err(_) => return Err(FailureReason::ConnectTimeout),
        Ok(Err(e)) => return Err(FailureReason::Connect(e.kind())),
        Ok(Ok(s)) => s,
    };
    // Small requests, one at a time: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let stream = match dest.tls_name() {
        None => Stream::Plain(tcp),
        Some(name) => {
            let handshake = match tls {
                None => Err(TlsFailure::Unavailable),
                Some(client) => tls_handshake(client, tcp, name, deadline).await,
            };
            match handshake {
                Ok(s) => s,
                Err(why) => {
                    tracing::warn!(
                        destination = %dest,
                        addr = %dest.addr(),
                        "NOTIFY not delivered: TLS with the call-back's server failed ({why});                          not sent over plain HTTP"
                    );
                    return Err(FailureReason::Tls(why));
                }
            }
        }
    };
    Ok(Conn {
        stream,
        buf: BytesMut::with_capacity(READ_CHUNK),
    })
}

#[cfg(feature = "tls")]
async fn tls_handshake(
    client: &TlsClient,
    tcp: TcpStream,
    name: &str,
    deadline: Instant,
) -> Result<Stream, TlsFailure> {
    match timeout_at(deadline, client.connect(tcp, name)).await {
        Err(_) => Err(TlsFailure::Timeout),
        Ok(Err(why)) => Err(why),
        Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
    }
}

#[cfg(not(feature = "tls"))]
async fn tls_handshake(
    client: &TlsClient,
    _tcp: TcpStream,
    _name: &str,
    _deadline: Instant,
) -> Result<Stream, TlsFailure> {
    match *client {}
}

/// Sends `request` to `dest`, reusing `conn` when it is still open, and leaves a reusable
/// connection in `conn` when the answer allows it.
pub(crate) async fn exchange(
    conn: &mut Option<Conn>,
    dest: &Destination,
    request: &[u8],
    config: &DeliveryConfig,
    tls: Option<&TlsClient>,
) -> Result<StatusCode, FailureReason> {
    let reused = conn.take().filter(Conn::is_reusable);
    if let Some(c) = reused {
        match attempt(c, request, config, true).await {
            Attempt::Done(status, keep) => {
                *conn = keep;
                return Ok(status);
            }
            Attempt::Failed(why) => return Err(why),
            Attempt::StaleConnection => {}
        }
    }
    let c = connect(dest, config, tls).await?;
    match attempt(c, request, config, false).await {
        Attempt::Done(status, keep) => {
            *conn = keep;
            Ok(status)
        }
        Attempt::Failed(why) => Err(why),
        Attempt::StaleConnection => Err(FailureReason::ConnectionClosed),
    }
}

async fn attempt(mut c: Conn, request: &[u8], config: &DeliveryConfig, reused: bool) -> Attempt {
    match timeout(
        config.response_timeout,
        write_and_read(&mut c, request, config),
    )
    .await
    {
        Err(_) => Attempt::Failed(FailureReason::ResponseTimeout),
        Ok(Ok((status, keep))) => Attempt::Done(status, keep.then_some(c)),
        Ok(Err(Failure { reason, got_bytes })) => {
            let retryable = reused
                && !got_bytes
                && matches!(
                    reason,
                    FailureReason::ConnectionClosed
                        | FailureReason::Io(
                            io::ErrorKind::ConnectionReset
                                | io::ErrorKind::BrokenPipe
                                | io::ErrorKind::ConnectionAborted
                        )
                );
            if retryable {
                Attempt::StaleConnection
            } else {
                Attempt::Failed(reason)
            }
        }
    }
}

struct Failure {
    reason: FailureReason,
    got_bytes: bool,
}

/// Writes the request and reads one final response. Returns the status and whether the
/// connection may carry another request.
async fn write_and_read(
    c: &mut Conn,
    request: &[u8],
    config: &DeliveryConfig,
) -> Result<(StatusCode, bool), Failure> {
    let io_err = |e: io::Error| Failure {
        reason: FailureReason::Io(e.kind()),
        got_bytes: false,
    };
    c.stream.write_all(request).await.map_err(io_err)?;
    // TLS buffers what it encrypts: push it out (a no-op on TCP).
    c.stream.flush().await.map_err(io_err)?;
    c.buf.clear();
    let mut parser = ResponseParser::new(config.response_limits);
    let mut eof = false;
    let mut got_bytes = false;
    loop {
        let parsed = parser.parse(&c.buf, eof).map_err(|e| Failure {
            reason: if eof && !got_bytes {
                FailureReason::ConnectionClosed
            } else {
                FailureReason::BadResponse(e)
            },
            got_bytes,
        })?;
        match parsed {
            Status::Complete(msg) => {
                let head = msg.head();
                let code = head.code();
                let consumed = msg.consumed();
                if (100..200).contains(&code) {
                    // Interim answer (100 Continue): skip it, wait for the final one.
                    let _ = c.buf.split_to(consumed);
                    continue;
                }
                let status = StatusCode::from_u16(code).map_err(|_| Failure {
                    reason: FailureReason::BadResponse(rvp_proto::ParseError::Syntax(
                        "invalid status code",
                    )),
                    got_bytes,
                })?;
                let connection_close = head
                    .headers()
                    .get_str("connection")
                    .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
                let keep = config.keep_alive
                    && !eof
                    && !msg.is_close_delimited()
                    && head.minor_version() >= 1
                    && !connection_close
                    && consumed == c.buf.len();
                return Ok((status, keep));
            }
            Status::Partial if eof => {
                // The parser reports EOF inside a message as an error; this is a guard.
                return Err(Failure {
                    reason: FailureReason::ConnectionClosed,
                    got_bytes,
                });
            }
            Status::Partial => {}
        }
        c.buf.reserve(READ_CHUNK);
        match c.stream.read_buf(&mut c.buf).await {
            Ok(0) => eof = true,
            Ok(_) => got_bytes = true,
            Err(e) => {
                return Err(Failure {
                    reason: FailureReason::Io(e.kind()),
                    got_bytes,
                });
            }
        }
    }
}
