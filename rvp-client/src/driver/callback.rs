//! The client's local node: a TCP listener for the server's NOTIFYs (PROTOCOL.md §1.2).
//! Each request is handed to the session loop, which answers it.

use std::sync::Arc;

use rvp_proto::codec::{RequestParser, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::ClientConfig;
use crate::inbound::NotifyAnswer;

/// One request received: its bytes, and where to send the answer.
pub(crate) type Received = (Vec<u8>, oneshot::Sender<NotifyAnswer>);

/// Accepts connections until the session loop goes away.
pub(crate) async fn serve(
    listener: TcpListener,
    config: Arc<ClientConfig>,
    to_session: mpsc::Sender<Received>,
) {
    let slots = Arc::new(Semaphore::new(config.callback_max_connections));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = to_session.closed() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            // Over the limit: answer 503 and close (bounded work per refusal).
            let _ = tokio::time::timeout(
                config.callback_idle_timeout,
                stream.write_all(&NotifyAnswer::new(503).to_bytes()),
            )
            .await;
            continue;
        };
        let config = Arc::clone(&config);
        let to_session = to_session.clone();
        tokio::spawn(async move {
            connection(stream, &config, &to_session).await;
            drop(permit);
        });
    }
}

/// Serves one connection: requests in order (keep-alive, bare LF accepted), each answered
/// by the session; closed on idleness, on a framing error (after a `400`) or when the
/// peer closes.
async fn connection(
    mut stream: TcpStream,
    config: &ClientConfig,
    to_session: &mpsc::Sender<Received>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut parser = RequestParser::new(config.limits);
    let mut chunk = [0u8; 8192];
    loop {
        // Frame one request from what is buffered.
        let framed = match parser.parse(&buf) {
            Ok(Status::Complete(m)) => {
                let closes = m.head().minor_version() == 0
                    || m.head().headers().get_str("connection").is_some_and(|v| {
                        v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
                    });
                Some((m.consumed(), closes))
            }
            Ok(Status::Partial) => None,
            Err(_) => {
                let _ = stream.write_all(&NotifyAnswer::new(400).to_bytes()).await;
                return;
            }
        };
        if let Some((used, closes)) = framed {
            let request: Vec<u8> = buf.drain(..used).collect();
            let (tx, rx) = oneshot::channel();
            if to_session.send((request, tx)).await.is_err() {
                return;
            }
            let answer = match tokio::time::timeout(config.callback_idle_timeout, rx).await {
                Ok(Ok(a)) => a,
                _ => NotifyAnswer::new(503),
            };
            let bytes = answer.to_bytes();
            let write = stream.write_all(&bytes);
            if !matches!(
                tokio::time::timeout(config.callback_idle_timeout, write).await,
                Ok(Ok(()))
            ) || closes
            {
                return;
            }
            continue;
        }
        let read =
            tokio::time::timeout(config.callback_idle_timeout, stream.read(&mut chunk)).await;
        match read {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
}
