//! The baseline: a minimal hyper 1.x HTTP/1.1 server (tokio multi-thread runtime, like
//! `rvp-server`) that reads each request's body and answers with a canned response per
//! method. The canned responses are byte copies of what `rvp-server` answered to the same
//! requests in the same run (status line with its reason phrase, headers, body), so both
//! servers put the same bytes on the wire.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::ext::ReasonPhrase;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One canned answer.
#[derive(Debug, Clone)]
pub(crate) struct Canned {
    status: StatusCode,
    reason: Option<Bytes>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Canned {
    /// Parses a raw HTTP/1.1 response. `Content-Length` is left to hyper (it writes it
    /// from the body length); every other header is kept.
    pub(crate) fn from_raw(raw: &[u8]) -> io::Result<Canned> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        let head = match res.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return Err(io::Error::other("canned response: incomplete or bad head")),
        };
        let status = StatusCode::from_u16(res.code.unwrap_or(0)).map_err(io::Error::other)?;
        let reason = res
            .reason
            .filter(|r| Some(*r) != status.canonical_reason())
            .map(|r| Bytes::copy_from_slice(r.as_bytes()));
        let mut kept = Vec::new();
        for h in res.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            kept.push((
                HeaderName::from_bytes(h.name.as_bytes()).map_err(io::Error::other)?,
                HeaderValue::from_bytes(h.value).map_err(io::Error::other)?,
            ));
        }
        Ok(Canned {
            status,
            reason,
            headers: kept,
            body: Bytes::copy_from_slice(&raw[head..]),
        })
    }

    pub(crate) fn from_file(path: &Path) -> io::Result<Canned> {
        Canned::from_raw(&std::fs::read(path)?)
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(self.body.clone()));
        *r.status_mut() = self.status;
        for (n, v) in &self.headers {
            r.headers_mut().append(n.clone(), v.clone());
        }
        if let Some(Ok(p)) = self.reason.clone().map(ReasonPhrase::try_from) {
            r.extensions_mut().insert(p);
        }
        r
    }
}

/// What the baseline answers.
#[derive(Debug, Clone)]
pub(crate) struct Answers {
    pub(crate) notify: Canned,
    pub(crate) proppatch: Canned,
}

/// Serves on `addr` until the process is killed (the orchestrator kills it).
pub(crate) fn serve(addr: SocketAddr, answers: Answers) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        let answers = Arc::new(answers);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let answers = answers.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let answers = answers.clone();
                    async move {
                        let canned = if req.method().as_str() == "PROPPATCH" {
                            &answers.proppatch
                        } else {
                            &answers.notify
                        };
                        // Read the whole body, as a real server must.
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(canned.response())
                    }
                });
                let _ = http1::Builder::new()
                    .auto_date_header(false)
                    .title_case_headers(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
