//! Reader for the interop capture logs (`/work/shared/interop/captures/*.wire.log`).
//!
//! Block format: a line `===== HH:MM:SS DIRECTION PEER =====`, then the raw bytes of what
//! was sent (CRLF kept), then one `\n` added by the logger.

#![allow(dead_code, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// One block of a capture file.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// Line number (1-based) of the block header, for messages.
    pub(crate) line: usize,
    /// `CLIENT->SERVER`, `SERVER->CLIENT`, `START`, `DROP`...
    pub(crate) direction: String,
    /// The rest of the header line (peer address, `reply to ...`).
    pub(crate) peer: String,
    /// The raw bytes, without the logger's trailing newline.
    pub(crate) bytes: Vec<u8>,
}

impl Block {
    /// Whether the block holds HTTP traffic (as opposed to a log note).
    pub(crate) fn is_message(&self) -> bool {
        self.direction == "CLIENT->SERVER" || self.direction == "SERVER->CLIENT"
    }

    /// Whether the block holds a response (starts with `HTTP/`).
    pub(crate) fn is_response(&self) -> bool {
        self.bytes.starts_with(b"HTTP/")
    }

    /// Whether the bytes were produced by a real client (requests from clients and their
    /// answers to our NOTIFYs).
    pub(crate) fn is_real_client(&self) -> bool {
        self.direction == "CLIENT->SERVER"
    }
}

/// The captures directory: `$RVP_CAPTURES_DIR`, else
/// `$CARGO_MANIFEST_DIR/../../shared/interop/captures`. Panics (fails the test loudly)
/// when it does not exist.
pub(crate) fn captures_dir() -> PathBuf {
    let dir = match std::env::var_os("RVP_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop/captures"),
    };
    assert!(
        dir.is_dir(),
        "capture directory {} is missing: set RVP_CAPTURES_DIR to the folder holding *.wire.log",
        dir.display()
    );
    dir
}

/// Every `*.wire.log` file of the captures directory, sorted. Panics if there is none.
pub(crate) fn capture_files() -> Vec<PathBuf> {
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
pub(crate) fn read_blocks(path: &Path) -> Vec<Block> {
    let data = std::fs::read(path).expect("read capture file");
    split_blocks(&data)
}

/// Splits capture bytes into blocks.
pub(crate) fn split_blocks(data: &[u8]) -> Vec<Block> {
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
