//! Framing benchmarks, each against a baseline measured in the same run, on the same bytes.
//!
//! * `parse`: a real librvp NOTIFY (`fixtures/librvp-notify-typing.http`, from
//!   `librvp-alice-bob.wire.log`; every `parse` benchmark is fed exactly these bytes, the
//!   `NOTIFY` constant) —
//!   `httparse_only` (**the baseline**: httparse with 16 initialised header slots, its
//!   documented use), `httparse_uninit` (httparse with uninitialised slots, its fastest API),
//!   `framing` (`RequestParser::parse`: httparse, then Content-Length, body, header index),
//!   `typed_head` (**the measured path**: `RequestParser::parse_typed`, framing plus method,
//!   target and every RVP header typed, borrowed, in one pass of its own head scanner, which
//!   frames exactly like httparse: see `codec/scan.rs` and the `head_scan` fuzz target),
//!   `typed_head_two_step`
//!   (`parse` then `RequestHead::view`, the general typing code) and `typed_head_owned`
//!   (`parse` then `RequestHead::typed`, owned canonical values).
//!
//!   **Target: `typed_head` ≤ 1.3 × `httparse_only`** (median over median). Read the
//!   `median` column of both rows and divide; the machine is shared and noisy, so run the
//!   benchmark a few times and take the median of the ratios. The `alloc` rows under
//!   `framing` and `typed_head` must read 0 (no allocation per message).
//! * `serialize`: the same NOTIFY relayed to a local node — `write_macro` (`write!` of the
//!   same bytes into a reused `Vec`) vs `write_notify_fast_path` (our fast path).
//!   Target: `write_notify_fast_path` ≤ 1.2 × `write_macro`.
//! * `components`: the pieces of general typing (target, `RVP-From-Principal`, the other
//!   headers), and `head_scan` (the scanner of `parse_typed` alone: framing, no typing,
//!   comparable with `httparse_only`), to see where time goes.
//!
//! Allocations per iteration come from divan's `AllocProfiler`.
//!
//! Run: `cargo bench --bench proto_head` (or `-- parse` for the head benchmarks only).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::mem::MaybeUninit;

use divan::{AllocProfiler, Bencher, black_box};
use rvp_proto::codec::{NotifyHead, RequestParser, Status, write_notify};
use rvp_proto::header::{AckType, HopCount, SubscriptionId};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

/// A real NOTIFY (typing notification) sent by librvp, head and body, byte-exact.
const NOTIFY: &[u8] = include_bytes!("fixtures/librvp-notify-typing.http");

fn main() {
    // Same sample shape for every benchmark so that the ratios compare like with like.
    divan::Divan::from_args()
        .sample_count(200)
        .sample_size(500)
        .main();
}

// Same sample shape for every benchmark so that the ratios compare like with like.
#[divan::bench_group(sample_count = 200, sample_size = 500)]
mod parse {
    use super::*;

    #[divan::bench]
    fn httparse_only(b: Bencher<'_, '_>) {
        b.bench_local(|| {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut headers);
            let n = req.parse(black_box(NOTIFY)).unwrap();
            black_box((req.method, req.path, req.headers.len(), n.is_complete()));
        });
    }

    #[divan::bench]
    fn httparse_uninit(b: Bencher<'_, '_>) {
        b.bench_local(|| {
            let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
            let mut req = httparse::Request::new(&mut []);
            let n = req
                .parse_with_uninit_headers(black_box(NOTIFY), &mut slots)
                .unwrap();
            black_box((req.method, req.path, req.headers.len(), n.is_complete()));
        });
    }

    #[divan::bench]
    fn framing(b: Bencher<'_, '_>) {
        let mut parser = RequestParser::default();
        b.bench_local(|| {
            let Ok(Status::Complete(m)) = parser.parse(black_box(NOTIFY)) else {
                unreachable!()
            };
            black_box((m.head().method(), m.head().target(), m.body().len()));
        });
    }

    /// The hot path and the measured target: framing plus method, target and every RVP
    /// header typed (borrowed) in one pass, `RequestParser::parse_typed`.
    #[divan::bench]
    fn typed_head(b: Bencher<'_, '_>) {
        let mut parser = RequestParser::default();
        b.bench_local(|| {
            // Bound by reference: the result is a few hundred bytes, moving it costs ~5 ns.
            let r = parser.parse_typed(black_box(NOTIFY));
            let Ok(Status::Complete(m)) = &r else {
                unreachable!()
            };
            let view = m.view().unwrap();
            black_box((view, m.body().len()));
        });
    }

    /// The same result in two steps: `parse`, then `RequestHead::view` (general typing).
    #[divan::bench]
    fn typed_head_two_step(b: Bencher<'_, '_>) {
        let mut parser = RequestParser::default();
        b.bench_local(|| {
            let Ok(Status::Complete(m)) = parser.parse(black_box(NOTIFY)) else {
                unreachable!()
            };
            let view = m.head().view().unwrap();
            black_box((&view, m.body().len()));
        });
    }

    /// The same, converted into owned canonical values (`TypedRequest`).
    #[divan::bench]
    fn typed_head_owned(b: Bencher<'_, '_>) {
        let mut parser = RequestParser::default();
        b.bench_local(|| {
            let Ok(Status::Complete(m)) = parser.parse(black_box(NOTIFY)) else {
                unreachable!()
            };
            let typed = m.head().typed().unwrap();
            black_box((&typed, m.body().len()));
        });
    }
}

// Same sample shape for every benchmark so that the ratios compare like with like.
#[divan::bench_group(sample_count = 200, sample_size = 500)]
mod serialize {
    use super::*;

    const TARGET: &str = "/";
    const HOST: &str = "127.0.0.1:43663";
    const FROM: &str = "http://localhost/instmsg/aliases/alice";

    fn body() -> &'static [u8] {
        let at = NOTIFY.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        &NOTIFY[at..]
    }

    fn with_macro(out: &mut Vec<u8>, id: &SubscriptionId, body: &[u8]) {
        write!(
            out,
            "NOTIFY {TARGET} HTTP/1.1\r\nHost: {HOST}\r\nRVP-Notifications-Version: 0.2\r\n\
             RVP-Ack-Type: {}\r\nRVP-Hop-Count: {}\r\nSubscription-Id: {}\r\n\
             RVP-From-Principal: {FROM}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
            AckType::DeepOr.as_str(),
            HopCount::ORIGIN.next().get(),
            id,
            body.len()
        )
        .unwrap();
        out.extend_from_slice(body);
    }

    fn with_fast_path(out: &mut Vec<u8>, id: &SubscriptionId, body: &[u8]) {
        let head = NotifyHead::new(TARGET, HOST, FROM)
            .with_ack_type(AckType::DeepOr)
            .with_hop_count(HopCount::ORIGIN.next())
            .with_subscription_id(id);
        write_notify(out, &head, body).unwrap();
    }

    #[divan::bench]
    fn write_macro(b: Bencher<'_, '_>) {
        let id = SubscriptionId::new("1001").unwrap();
        let (mut a, mut c) = (Vec::new(), Vec::new());
        with_macro(&mut a, &id, body());
        with_fast_path(&mut c, &id, body());
        assert_eq!(a, c, "both writers must produce the same bytes");
        let mut out = Vec::with_capacity(2048);
        b.bench_local(|| {
            out.clear();
            with_macro(&mut out, black_box(&id), black_box(body()));
            black_box(out.len());
        });
    }

    #[divan::bench]
    fn write_notify_fast_path(b: Bencher<'_, '_>) {
        let id = SubscriptionId::new("1001").unwrap();
        let mut out = Vec::with_capacity(2048);
        b.bench_local(|| {
            out.clear();
            with_fast_path(&mut out, black_box(&id), black_box(body()));
            black_box(out.len());
        });
    }
}

/// Where the typing time goes: the pieces of `typed_head`, on the same NOTIFY's values.
// Same sample shape for every benchmark so that the ratios compare like with like.
#[divan::bench_group(sample_count = 200, sample_size = 500)]
mod components {
    use super::*;
    use rvp_proto::codec::scan_request_head;
    use rvp_proto::header::{FromPrincipalRef, RvpHeadersRef};

    /// The head scanner of `parse_typed` on its own (framing only, like `httparse_only`).
    #[divan::bench]
    fn head_scan(b: Bencher<'_, '_>) {
        b.bench_local(|| {
            let Ok(Status::Complete(h)) = scan_request_head(black_box(NOTIFY), 16) else {
                unreachable!()
            };
            black_box((
                h.method_token(),
                h.target(),
                h.headers().len(),
                h.head_len(),
            ))
        });
    }

    #[divan::bench]
    fn target(b: Bencher<'_, '_>) {
        b.bench_local(|| {
            let t = rvp_proto::url::parse_target_ref(
                black_box("/instmsg/aliases/bob"),
                Some(black_box("localhost")),
            );
            black_box(t.is_ok())
        });
    }

    #[divan::bench]
    fn from_principal(b: Bencher<'_, '_>) {
        b.bench_local(|| {
            let p = FromPrincipalRef::parse(black_box(b"http://localhost/instmsg/aliases/alice"));
            black_box(p.is_ok())
        });
    }

    #[divan::bench]
    fn other_headers(b: Bencher<'_, '_>) {
        let headers: [(&str, &[u8]); 6] = [
            ("Content-Length", b"724"),
            ("RVP-Notifications-Version", b"0.2"),
            ("Host", b"localhost"),
            ("Content-Type", b"text/xml"),
            ("RVP-Hop-Count", b"1"),
            ("RVP-Ack-Type", b"DeepOr"),
        ];
        b.bench_local(|| {
            let mut r = RvpHeadersRef::default();
            for (n, v) in black_box(headers) {
                let _ = r.add(n, v);
            }
            black_box(r)
        });
    }
}
