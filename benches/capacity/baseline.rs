//! The G9 baseline: a minimal hyper 1.x HTTP/1.1 server (tokio multi-thread runtime, the
//! construction of `server_load`'s baseline) answering each step of the sign-on sequence
//! with a byte copy of what `rvp-server` answered to the same step in the same run.
//!
//! It keeps no state and verifies nothing: a request without `Authorization` gets the
//! copied `401` challenge, then each request gets the copied answer of its step, chosen by
//! method (and `Notification-Type` for SUBSCRIBE: the login or a watch). It reads every
//! request body, as a real server must. What it leaves out is exactly what `rvp-server`
//! adds: Digest verification, the presence engine, the store, call-back bookkeeping.
//!
//! (`server_load/baseline.rs` answers one canned answer per method out of two and keeps
//! its response builder private to that bench, so this one has its own.)

use std::collections::HashMap;
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

/// The steps whose answers are copied, by file name in the answers' folder.
pub(crate) const STEPS: [&str; 7] = [
    "challenge",
    "login",
    "state",
    "props",
    "watchers",
    "acl",
    "watch",
];

/// One copied answer.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    reason: Option<Bytes>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Answer {
    /// From raw response bytes; hyper writes `Content-Length` itself, every other header
    /// and the reason phrase are kept.
    fn parse(raw: &[u8]) -> io::Result<Answer> {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut head = httparse::Response::new(&mut slots);
        let Ok(httparse::Status::Complete(len)) = head.parse(raw) else {
            return Err(io::Error::other("a copied answer without a complete head"));
        };
        let status = StatusCode::from_u16(head.code.unwrap_or(0)).map_err(io::Error::other)?;
        let reason = head
            .reason
            .filter(|r| Some(*r) != status.canonical_reason())
            .map(|r| Bytes::copy_from_slice(r.as_bytes()));
        let mut headers = Vec::new();
        for h in head.headers.iter() {
            if !h.name.eq_ignore_ascii_case("content-length") {
                headers.push((
                    HeaderName::from_bytes(h.name.as_bytes()).map_err(io::Error::other)?,
                    HeaderValue::from_bytes(h.value).map_err(io::Error::other)?,
                ));
            }
        }
        Ok(Answer {
            status,
            reason,
            headers,
            body: Bytes::copy_from_slice(&raw[len..]),
        })
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(self.body.clone()));
        *r.status_mut() = self.status;
        for (name, value) in &self.headers {
            r.headers_mut().append(name.clone(), value.clone());
        }
        if let Some(Ok(phrase)) = self.reason.clone().map(ReasonPhrase::try_from) {
            r.extensions_mut().insert(phrase);
        }
        r
    }
}

/// The step a request belongs to.
fn step_of(req: &http::Request<Incoming>) -> &'static str {
    if !req.headers().contains_key("authorization") {
        return "challenge";
    }
    match req.method().as_str() {
        "SUBSCRIBE" => {
            let login = req
                .headers()
                .get("notification-type")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"pragma/notify"));
            if login { "login" } else { "watch" }
        }
        "PROPPATCH" => "state",
        "SUBSCRIPTIONS" => "watchers",
        "ACL" => "acl",
        _ => "props",
    }
}

/// Serves on `addr` the answers stored in `dir` (one file per [`STEPS`] name) until the
/// process is killed (the orchestrator kills it).
pub(crate) fn serve(addr: SocketAddr, dir: &Path) -> io::Result<()> {
    let mut answers = HashMap::new();
    for step in STEPS {
        let raw = std::fs::read(dir.join(step))?;
        answers.insert(step, Answer::parse(&raw)?);
    }
    let answers = Arc::new(answers);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let answers = Arc::clone(&answers);
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let answers = Arc::clone(&answers);
                    async move {
                        let step = step_of(&req);
                        let _ = req.into_body().collect().await;
                        let response = answers.get(step).map_or_else(
                            || Response::new(Full::new(Bytes::new())),
                            Answer::response,
                        );
                        Ok::<_, Infallible>(response)
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
