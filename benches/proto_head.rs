//! Framing benchmarks, each against a baseline measured in the same run.
//!
//! * `parse`: a real librvp NOTIFY (from `librvp-alice-bob.wire.log`) —
//!   `httparse_only` (httparse with 16 initialised header slots, its documented use),
//!   `httparse_uninit` (httparse with uninitialised slots, its fastest API),
//!   `framing` (our parser: head, Content-Length, body, header index) and
//!   `typed_head` (framing + method, target and every RVP header typed).
//!   Target: `typed_head` ≤ 1.3 × `httparse_only`.
//! * `serialize`: the same NOTIFY relayed to a local node — `write_macro` (`write!` of the
//!   same bytes into a reused `Vec`) vs `write_notify` (our fast path).
//!   Target: `write_notify` ≤ 1.2 × `write_macro`.
//!
//! Allocations per iteration come from divan's `AllocProfiler`.
//!
//! Run: `cargo bench --bench proto_head`.

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
    divan::main();
}

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

    #[divan::bench]
    fn typed_head(b: Bencher<'_, '_>) {
        let mut parser = RequestParser::default();
        b.bench_local(|| {
            let Ok(Status::Complete(m)) = parser.parse(black_box(NOTIFY)) else {
                unreachable!()
            };
            let typed = m.head().typed().unwrap();
            black_box((typed, m.body().len()));
        });
    }
}

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
