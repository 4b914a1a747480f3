//! Decoding a real 791-byte `r:notification` (a librvp instant message, from
//! `shared/interop/captures/librvp-alice-bob.wire.log`) into typed values, against a bare
//! quick-xml namespace-resolving event loop over the same bytes that only counts events.
//!
//! Target: `decode_typed` ≤ 1.5 × `baseline_nsreader_count`.
//! Run: `cargo bench --bench xml_notification`.

#![allow(missing_docs)]

use divan::{AllocProfiler, Bencher, black_box};
use quick_xml::events::Event;
use quick_xml::reader::NsReader;
use rvp_proto::xml::{Notification, XmlBody};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

/// librvp's NOTIFY body, byte for byte (CRLF inside the CDATA, double-encoded UTF-8 text).
const BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\" xmlns:a=\"http://schemas.microsoft.com/rvp/acl/\"><r:message><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/alice</d:href><r:description>Alice</r:description></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href><r:description>Bob</r:description></r:contact></r:notification-to><r:msgbody><r:mime-data><![CDATA[MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
X-MMS-IM-Format: FN=MS%%20Shell%%20Dlg; EF=; CO=0; CS=0; PF=0\r\n\
Session-Id: {AD60BC68-5217-1DD5-329A-B4F2E21D8A09}\r\n\
\r\n\
Hello Bob <b>bold</b> & Ã¼nÃ¯cÃ¸dÃ©]]></r:mime-data></r:msgbody></r:message></r:notification>\n\
";

fn main() {
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
    bencher.bench(|| {
        let mut reader = NsReader::from_reader(black_box(BODY.as_bytes()));
        let mut count = 0usize;
        loop {
            match reader.read_resolved_event() {
                Ok((_, Event::Eof)) => break,
                Ok(_) => count += 1,
                Err(_) => break,
            }
        }
        count
    });
}

/// Our decoder: bytes to `Notification::Message` with owned strings.
#[divan::bench]
fn decode_typed(bencher: Bencher<'_, '_>) {
    bencher.bench(|| Notification::parse(black_box(BODY.as_bytes())));
}
