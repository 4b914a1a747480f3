//! Parses an interop capture log with `rvp-proto` and prints one line per message.
//!
//! ```text
//! cargo run --example parse_capture [-- path/to/file.wire.log]
//! ```
//!
//! Without an argument it reads `librvp-alice-bob.wire.log` from `$RVP_CAPTURES_DIR`, or
//! from `testdata/captures/` (in the repository) next to the workspace.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rvp_proto::codec::{RequestParser, ResponseParser, Status};
use rvp_proto::header::RvpHeaders;

/// One `===== time DIRECTION peer =====` block of a capture.
struct Block {
    time: String,
    direction: String,
    bytes: Vec<u8>,
}

fn split_blocks(data: &[u8]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if let Some(inner) = text
            .strip_prefix("===== ")
            .and_then(|t| t.strip_suffix(" ====="))
        {
            let mut parts = inner.splitn(3, ' ');
            let time = parts.next().unwrap_or_default().to_owned();
            let direction = parts.next().unwrap_or_default().to_owned();
            blocks.push(Block {
                time,
                direction,
                bytes: Vec::new(),
            });
        } else if let Some(block) = blocks.last_mut() {
            block.bytes.extend_from_slice(line);
        }
    }
    // The logger adds one newline after each block.
    for block in &mut blocks {
        if block.bytes.last() == Some(&b'\n') {
            block.bytes.pop();
        }
    }
    blocks
}

/// The key RVP headers, as `name=value` pairs.
fn describe(rvp: &RvpHeaders) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &rvp.from_principal {
        parts.push(format!(
            "from={}",
            rvp_proto::header::RvpHeader::to_header_value(v)
                .to_str()
                .unwrap_or("?")
        ));
    }
    if let Some(v) = &rvp.notification_type {
        parts.push(format!("type={v}"));
    }
    if let Some(v) = &rvp.call_back {
        parts.push(format!("call-back={v}"));
    }
    if let Some(v) = &rvp.subscription_id {
        parts.push(format!("id={v}"));
    }
    if let Some(v) = &rvp.subscription_lifetime {
        parts.push(format!("lifetime={}s", v.seconds()));
    }
    if let Some(v) = &rvp.hop_count {
        parts.push(format!("hop={}", v.get()));
    }
    if let Some(v) = &rvp.ack_type {
        parts.push(format!("ack={}", v.as_str()));
    }
    if let Some(v) = &rvp.depth {
        parts.push(format!("depth={}", v.as_str()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(" "))
    }
}

/// Parses every message of a block, returning one summary line per message.
fn summarize(
    block: &Block,
    req: &mut RequestParser,
    res: &mut ResponseParser,
) -> Vec<Result<String, String>> {
    let arrow = if block.direction == "CLIENT->SERVER" {
        "C->S"
    } else {
        "S->C"
    };
    let mut out = Vec::new();
    let mut rest = &block.bytes[..];
    while !rest.is_empty() {
        let line = if rest.starts_with(b"HTTP/") {
            match res.parse(rest, true) {
                Ok(Status::Complete(m)) => {
                    let used = m.consumed();
                    let line = m.head().typed().map(|t| {
                        format!(
                            "{} {} {} body={}B{}",
                            arrow,
                            t.status.as_str(),
                            m.head().reason(),
                            m.body().len(),
                            describe(&t.rvp)
                        )
                    });
                    rest = &rest[used..];
                    line.map_err(|e| e.to_string())
                }
                Ok(Status::Partial) => Err("incomplete response".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        } else {
            match req.parse(rest) {
                Ok(Status::Complete(m)) => {
                    let used = m.consumed();
                    let head = m.head();
                    let line = head.typed().map(|t| {
                        format!(
                            "{} {} {} body={}B{}",
                            arrow,
                            head.method_token(),
                            head.target(),
                            m.body().len(),
                            describe(&t.rvp)
                        )
                    });
                    rest = &rest[used..];
                    line.map_err(|e| e.to_string())
                }
                Ok(Status::Partial) => Err("incomplete request".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        };
        let failed = line.is_err();
        out.push(line);
        if failed {
            break;
        }
        rest = rest.trim_ascii_start();
    }
    out
}

fn default_capture() -> PathBuf {
    let dir = std::env::var_os("RVP_CAPTURES_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/captures"),
        PathBuf::from,
    );
    dir.join("librvp-alice-bob.wire.log")
}

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(default_capture, PathBuf::from);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(stderr, "cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let mut req = RequestParser::default();
    let mut res = ResponseParser::default();
    let (mut ok, mut failed) = (0, 0);
    for block in split_blocks(&data) {
        if block.direction != "CLIENT->SERVER" && block.direction != "SERVER->CLIENT" {
            continue;
        }
        for line in summarize(&block, &mut req, &mut res) {
            let _ = match line {
                Ok(l) => {
                    ok += 1;
                    writeln!(stdout, "{} {l}", block.time)
                }
                Err(e) => {
                    failed += 1;
                    writeln!(stdout, "{} ERROR {e}", block.time)
                }
            };
        }
    }
    let _ = writeln!(
        stdout,
        "{}: {ok} messages parsed, {failed} failed",
        path.display()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
