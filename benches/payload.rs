//! Payload parsing and writing (`rvp_proto::payload`), against a baseline measured in the
//! same run: `baseline_scan` walks the same text once (counts its lines), the least work any
//! parser must do. Read the figures as ratios to that baseline.
//!
//! Run: `cargo bench --bench payload`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use divan::black_box;
use rvp_proto::payload::{Payload, decode_double_utf8, encode_double_utf8};

fn main() {
    divan::main();
}

/// A librvp text message as it arrives after XML decoding (double UTF-8).
const LIBRVP_MESSAGE: &str = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
    X-MMS-IM-Format: FN=MS%%20Shell%%20Dlg; EF=; CO=0; CS=0; PF=0\r\n\
    Session-Id: {D9727BE8-8678-0990-2CE7-BEC55B1ACC0C}\r\n\r\n\
    Gr\u{c3}\u{bc}\u{c3}\u{9f}e aus librvp";

/// A Net::RVP typing notification.
const NETRVP_TYPING: &str = "MIME-Version: 1.0\r\nSession-Id: {C4706545-91E5-0097-D2F5-C78631D01104}\r\n\
    Content-Type: text/x-msmsgscontrol\r\nTypingUser: carol@localhost\r\n\r\n\r\n";

/// Benchmark argument names (divan prints them), resolved by [`sample`].
const SAMPLES: [&str; 2] = ["librvp_message", "netrvp_typing"];

fn sample(name: &str) -> &'static str {
    match name {
        "librvp_message" => LIBRVP_MESSAGE,
        _ => NETRVP_TYPING,
    }
}

#[divan::bench(args = SAMPLES)]
fn baseline_scan(text: &str) -> usize {
    black_box(sample(text)).lines().count()
}

#[divan::bench(args = SAMPLES)]
fn parse(text: &str) -> Payload {
    Payload::parse(black_box(sample(text))).expect("parses")
}

#[divan::bench(args = SAMPLES)]
fn decode_double_utf8_then_parse(text: &str) -> Payload {
    Payload::parse(&decode_double_utf8(black_box(sample(text)))).expect("parses")
}

#[divan::bench(args = SAMPLES)]
fn write(bencher: divan::Bencher<'_, '_>, text: &str) {
    let payload = Payload::parse(sample(text)).expect("parses");
    bencher.bench(|| black_box(&payload).write());
}

#[divan::bench]
fn encode_double_utf8_message() -> usize {
    encode_double_utf8(black_box("Grüße aus librvp, ünïcødé")).len()
}
