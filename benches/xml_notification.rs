//! Decoding a real 791-byte `r:notification` (a librvp instant message, from
//! `testdata/captures/librvp-alice-bob.wire.log`) into typed values, against a bare
//! quick-xml namespace-resolving event loop over the same bytes that only counts events.
//!
//! Target: `decode_typed` ≤ 1.5 × `baseline_nsreader_count`.
//!
//! Also the `d:propertyupdate` of a presence change (the PROPPATCH body of the
//! `server_load` benchmark, as Windows Messenger sends it): `proppatch_decode_typed`
//! against `proppatch_baseline_nsreader_count` (information; no target of its own).
//! Run: `cargo bench --bench xml_notification`.

#![allow(missing_docs, clippy::print_stdout)]

use divan::{Bencher, black_box};
use quick_xml::events::Event;
use quick_xml::reader::NsReader;
use rvp_proto::xml::{Notification, PropertyUpdate, XmlBody};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

// Allocation counts come from stats_alloc, printed once before the timings; both sides of
// each ratio run under the same counting allocator. (divan's `AllocProfiler`, used before,
// costs tens of nanoseconds per allocation — a thread-local and a map insert — and so
// weighed on the typed decode, 11 allocations, far more than on the baseline, 4.)
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// librvp's NOTIFY body, byte for byte (CRLF inside the CDATA, double-encoded UTF-8 text).
const BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\" xmlns:a=\"http://schemas.microsoft.com/rvp/acl/\"><r:message><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/alice</d:href><r:description>Alice</r:description></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href><r:description>Bob</r:description></r:contact></r:notification-to><r:msgbody><r:mime-data><![CDATA[MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
X-MMS-IM-Format: FN=MS%%20Shell%%20Dlg; EF=; CO=0; CS=0; PF=0\r\n\
Session-Id: {AD60BC68-5217-1DD5-329A-B4F2E21D8A09}\r\n\
\r\n\
Hello Bob <b>bold</b> & Ã¼nÃ¯cÃ¸dÃ©]]></r:mime-data></r:msgbody></r:message></r:notification>\n\
";

/// A PROPPATCH of one's own leased state (`benches/server_load/proppatch.lua`).
const PROPPATCH: &str = "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d='DAV:' \
xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'>\
<d:set><d:prop><r:state><r:leased-value><r:value><r:busy/></r:value>\
<r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout>\
</r:leased-value></r:state></d:prop></d:set></d:propertyupdate>";

fn count_events(body: &[u8]) -> usize {
    let mut reader = NsReader::from_reader(body);
    let mut count = 0usize;
    loop {
        match reader.read_resolved_event() {
            Ok((_, Event::Eof)) => break,
            Ok(_) => count += 1,
            Err(_) => break,
        }
    }
    count
}

fn main() {
    assert!(PropertyUpdate::parse(PROPPATCH.as_bytes()).is_ok());
    for (name, run) in [
        (
            "baseline_nsreader_count",
            &(|| {
                let _ = count_events(BODY.as_bytes());
            }) as &dyn Fn(),
        ),
        ("decode_typed", &|| {
            drop(Notification::parse(BODY.as_bytes()))
        }),
        ("proppatch_baseline_nsreader_count", &|| {
            let _ = count_events(PROPPATCH.as_bytes());
        }),
        ("proppatch_decode_typed", &|| {
            drop(PropertyUpdate::parse(PROPPATCH.as_bytes()))
        }),
    ] {
        let region = Region::new(GLOBAL);
        run();
        let c = region.change();
        println!(
            "allocations {name}: {} ({} bytes), reallocations {}",
            c.allocations, c.bytes_allocated, c.reallocations
        );
    }
    assert!(
        (700..=800).contains(&BODY.len()),
        "body is {} bytes",
        BODY.len()
    );
    assert!(matches!(
        Notification::parse(BODY.as_bytes()),
        Ok(Notification::Message(_))
    ));
    divan::main();
}

/// The baseline: resolve namespaces of every event and count them, nothing else.
#[divan::bench]
fn baseline_nsreader_count(bencher: Bencher<'_, '_>) {
    bencher.bench(|| count_events(black_box(BODY.as_bytes())));
}

/// Our decoder: bytes to `Notification::Message` with owned strings.
#[divan::bench]
fn decode_typed(bencher: Bencher<'_, '_>) {
    bencher.bench(|| Notification::parse(black_box(BODY.as_bytes())));
}

/// The PROPPATCH body's baseline: the same namespace-resolving count.
#[divan::bench]
fn proppatch_baseline_nsreader_count(bencher: Bencher<'_, '_>) {
    bencher.bench(|| count_events(black_box(PROPPATCH.as_bytes())));
}

/// The PROPPATCH body decoded to a typed `PropertyUpdate`.
#[divan::bench]
fn proppatch_decode_typed(bencher: Bencher<'_, '_>) {
    bencher.bench(|| PropertyUpdate::parse(black_box(PROPPATCH.as_bytes())));
}
