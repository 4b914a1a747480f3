//! Reader for the real-client capture logs (`testdata/captures/*.wire.log`), for every
//! crate's tests, benches and fuzz seeds that replay them.
//!
//! Block format: a line `===== HH:MM:SS DIRECTION PEER =====`, then the raw bytes of what
//! was sent (CRLF kept), then one `\n` added by the logger.
//!
//! The files are part of the repository; a missing or unreadable one panics (a broken
//! checkout, not a condition to test).

#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// One block of a capture file.
#[derive(Debug, Clone)]
pub struct Block {
    /// Line number (1-based) of the block header, for messages.
    pub line: usize,
    /// `CLIENT->SERVER`, `SERVER->CLIENT`, `START`, `DROP`...
    pub direction: String,
    /// The rest of the header line (peer address, `reply to ...`).
    pub peer: String,
    /// The raw bytes, without the logger's trailing newline.
    pub bytes: Vec<u8>,
}

impl Block {
    /// Whether the block holds HTTP traffic (as opposed to a log note).
    pub fn is_message(&self) -> bool {
        self.direction == "CLIENT->SERVER" || self.direction == "SERVER->CLIENT"
    }

    /// Whether the block holds a response (starts with `HTTP/`).
    pub fn is_response(&self) -> bool {
        self.bytes.starts_with(b"HTTP/")
    }

    /// Whether the bytes were produced by a real client (requests from clients and their
    /// answers to our NOTIFYs).
    pub fn is_real_client(&self) -> bool {
        self.direction == "CLIENT->SERVER"
    }
}

/// The captures directory: `$RVP_CAPTURES_DIR`, else
/// `$CARGO_MANIFEST_DIR/../testdata/captures`. Panics (fails the test loudly)
/// when it does not exist.
pub fn captures_dir() -> PathBuf {
    let dir = match std::env::var_os("RVP_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures"),
    };
    assert!(
        dir.is_dir(),
        "capture directory {} is missing: set RVP_CAPTURES_DIR to the folder holding *.wire.log",
        dir.display()
    );
    dir
}

/// Every `*.wire.log` file of the captures directory, sorted. Panics if there is none.
pub fn capture_files() -> Vec<PathBuf> {
    let dir = captures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read captures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".wire.log"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.wire.log in {}", dir.display());
    files
}

/// Splits a capture file into blocks.
pub fn read_blocks(path: &Path) -> Vec<Block> {
    let data = std::fs::read(path).expect("read capture file");
    split_blocks(&data)
}

/// Splits capture bytes into blocks.
pub fn split_blocks(data: &[u8]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut pos = 0;
    let mut line_no = 1;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i + 1);
        let line = &data[pos..end];
        let text = String::from_utf8_lossy(line);
        let header = text.trim_end();
        if header.starts_with("===== ") && header.ends_with(" =====") {
            let inner = &header[6..header.len() - 6];
            let mut parts = inner.splitn(3, ' ');
            let _time = parts.next().unwrap_or("");
            let direction = parts.next().unwrap_or("").to_owned();
            let peer = parts.next().unwrap_or("").to_owned();
            blocks.push(Block {
                line: line_no,
                direction,
                peer,
                bytes: Vec::new(),
            });
        } else if let Some(b) = blocks.last_mut() {
            b.bytes.extend_from_slice(line);
        }
        pos = end;
        line_no += 1;
    }
    for b in &mut blocks {
        if b.bytes.last() == Some(&b'\n') {
            b.bytes.pop();
        }
    }
    blocks
}

/// One HTTP message of a capture, framed by the product parsers.
#[derive(Debug, Clone)]
pub struct Framed {
    /// The capture file's name.
    pub file: String,
    /// The block's header line (`===== 10:51:20 CLIENT->SERVER 127.0.0.1:40538 =====`).
    pub header: String,
    /// `CLIENT->SERVER` or `SERVER->CLIENT`.
    pub direction: String,
    /// The start line (`NOTIFY / HTTP/1.1`, `HTTP/1.1 200 Successful`).
    pub first_line: String,
    /// The body, delimited by `Content-Length` (or by the end of the block for
    /// close-delimited responses).
    pub body: Vec<u8>,
}

/// Every HTTP message of every capture file, framed with [`rvp_proto::codec`]'s request
/// and response parsers (so the framing under test is the product's). Panics, naming the
/// block, when a message does not frame.
pub fn framed_messages() -> Vec<Framed> {
    use rvp_proto::codec::{RequestParser, ResponseParser, Status};
    let mut out = Vec::new();
    for path in capture_files() {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for b in read_blocks(&path).into_iter().filter(Block::is_message) {
            let header = format!("{file}:{} {} {}", b.line, b.direction, b.peer);
            let first_line =
                String::from_utf8_lossy(b.bytes.split(|&c| c == b'\n').next().unwrap_or_default())
                    .trim_end()
                    .to_owned();
            let body = if b.is_response() {
                let mut p = ResponseParser::default();
                match p.parse(&b.bytes, true) {
                    Ok(Status::Complete(m)) => m.body().to_vec(),
                    other => panic!("{header}: response does not frame: {other:?}"),
                }
            } else {
                let mut p = RequestParser::default();
                match p.parse(&b.bytes) {
                    Ok(Status::Complete(m)) => m.body().to_vec(),
                    other => panic!("{header}: request does not frame: {other:?}"),
                }
            };
            out.push(Framed {
                file: file.clone(),
                header,
                direction: b.direction,
                first_line,
                body,
            });
        }
    }
    out
}
