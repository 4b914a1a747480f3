//! The protocol log: one line per request, in the spirit of the IIS (W3C extended) log
//! Exchange 2000 IM wrote.
//!
//! ```text
//! #Software: rvp-server 0.1.0
//! #Fields: date time c-ip cs-username cs-method cs-uri-stem sc-status cs-bytes sc-bytes time-taken-us
//! 2026-11-27 13:45:01.123456 127.0.0.1:53211 alice PROPPATCH /instmsg/aliases/alice 207 402 455 830
//! ```
//!
//! * Time is UTC, when the answer was ready; `time-taken-us` runs from the moment the
//!   request was completely received to that point, in microseconds.
//! * `cs-username` is the [`LogPrincipal`](crate::service::LogPrincipal) the handler set,
//!   else `-`. Requests refused by the connection loop (malformed, unsupported method) are
//!   logged too, with `-` for what could not be read.
//! * Fields never contain spaces or control characters (replaced by `+`, as IIS does).
//!
//! Writing never blocks a connection on I/O: a line is formatted straight into a shared,
//! bounded byte buffer (one short lock, no allocation), and one writer thread takes the
//! whole buffer at a time. Woken when the buffer stops being empty, the writer waits
//! [`LOG_BATCH_WINDOW`] for more, then writes everything gathered with one `write`: under
//! load that is one wake-up and one system call per window instead of per request (per-line
//! hand-offs cost about a tenth of the server's CPU in `benches/server_load`). When the
//! buffer holds [`LOG_BUFFER_BYTES`] (the disk cannot keep up) lines are dropped and
//! counted ([`ProtocolLog::dropped`]) rather than slowing every client down. Diagnostics
//! (start-up, errors, warnings) go through `tracing` instead.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes of lines that may wait for the writer thread before new ones are dropped: 4 MiB,
/// a [`LOG_BATCH_WINDOW`]'s lines up to about 3 million requests per second.
pub const LOG_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// How long the writer thread, woken by a line, lets more lines gather before it writes
/// them out: the longest a line waits before it reaches the log's file descriptor while
/// the server runs.
pub const LOG_BATCH_WINDOW: Duration = Duration::from_millis(10);

/// The `#Fields:` header written at the top of every log opened.
pub const FIELDS_LINE: &str = "#Fields: date time c-ip cs-username cs-method cs-uri-stem sc-status cs-bytes sc-bytes time-taken-us";

/// Where the protocol log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogTarget {
    /// Nowhere.
    Off,
    /// Standard error.
    Stderr,
    /// A file, appended to (created if missing).
    File(PathBuf),
}

/// One request, as logged.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LogEntry<'a> {
    /// When the answer was ready.
    pub time: SystemTime,
    /// The client.
    pub peer: SocketAddr,
    /// Who made the request, when known.
    pub principal: Option<&'a str>,
    /// The method token (`-` when unreadable).
    pub method: &'a str,
    /// The request-target (`-` when unreadable).
    pub target: &'a str,
    /// The status answered.
    pub status: u16,
    /// Bytes received for this request (head and body).
    pub bytes_in: usize,
    /// Bytes sent for the answer.
    pub bytes_out: usize,
    /// From the request fully received to the answer ready.
    pub duration: Duration,
}

impl<'a> LogEntry<'a> {
    /// An entry stamped now.
    #[allow(clippy::too_many_arguments)] // one per log column
    pub fn new(
        peer: SocketAddr,
        principal: Option<&'a str>,
        method: &'a str,
        target: &'a str,
        status: u16,
        bytes_in: usize,
        bytes_out: usize,
        duration: Duration,
    ) -> LogEntry<'a> {
        LogEntry {
            time: SystemTime::now(),
            peer,
            principal,
            method,
            target,
            status,
            bytes_in,
            bytes_out,
            duration,
        }
    }

    /// The log line (without the newline).
    pub fn to_line(&self) -> String {
        let mut line = Vec::with_capacity(128);
        self.write_line(&mut line);
        // Only ASCII digits and separators are added to fields that were UTF-8.
        String::from_utf8(line)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends the log line (without the newline) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        put_utc(out, self.time);
        out.push(b' ');
        put_peer(out, self.peer);
        for field in [self.principal.unwrap_or("-"), self.method, self.target] {
            out.push(b' ');
            put_field(out, field);
        }
        for n in [
            u64::from(self.status),
            self.bytes_in as u64,
            self.bytes_out as u64,
            u64::try_from(self.duration.as_micros()).unwrap_or(u64::MAX),
        ] {
            out.push(b' ');
            put_u64(out, n, 1);
        }
    }
}

/// `peer` as its `Display` writes it (`a.b.c.d:port`, `[v6]:port`), the IPv4 form without
/// the formatting machinery.
fn put_peer(out: &mut Vec<u8>, peer: SocketAddr) {
    match peer {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                put_u64(out, u64::from(octet), 1);
            }
            out.push(b':');
            put_u64(out, u64::from(v4.port()), 1);
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{peer}");
        }
    }
}

/// `n` in decimal, zero-padded to at least `width` digits (at most 20, the most a `u64`
/// has).
fn put_u64(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let width = width.min(digits.len());
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 && digits.len() - i >= width {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn put_field(out: &mut Vec<u8>, field: &str) {
    if field.is_empty() {
        out.push(b'-');
        return;
    }
    if field.bytes().all(|b| b.is_ascii_graphic()) {
        out.extend_from_slice(field.as_bytes());
        return;
    }
    for c in field.chars() {
        if c.is_whitespace() || c.is_control() {
            out.push(b'+');
        } else {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. The part up to the seconds changes once a second:
/// each thread keeps the last one it wrote and only adds the microseconds.
fn put_utc(out: &mut Vec<u8>, t: SystemTime) {
    thread_local! {
        static LAST: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (last_secs, text) = LAST.get();
    if last_secs == secs {
        out.extend_from_slice(&text);
    } else {
        let start = out.len();
        put_utc_seconds(out, secs);
        if let Ok(text) = <[u8; 19]>::try_from(&out[start..]) {
            LAST.set((secs, text));
        }
    }
    out.push(b'.');
    put_u64(out, u64::from(since.subsec_micros()), 6);
}

/// `YYYY-MM-DD HH:MM:SS` of `secs` since the Unix epoch.
fn put_utc_seconds(out: &mut Vec<u8>, secs: u64) {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    // Dates before year 0 cannot come from `duration_since(UNIX_EPOCH)`.
    let num = |v: i64| u64::try_from(v).unwrap_or(0);
    put_u64(out, num(y), 4);
    out.push(b'-');
    put_u64(out, num(m), 2);
    out.push(b'-');
    put_u64(out, num(d), 2);
    out.push(b' ');
    put_u64(out, rem / 3600, 2);
    out.push(b':');
    put_u64(out, rem % 3600 / 60, 2);
    out.push(b':');
    put_u64(out, rem % 60, 2);
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (the usual era-based
/// conversion: 400-year eras of 146 097 days, years starting in March).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A handle to the protocol log; cheap to clone, one per connection.
#[derive(Debug, Clone, Default)]
pub struct ProtocolLog {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    sink: Sink,
    dropped: AtomicU64,
}

#[derive(Debug)]
enum Sink {
    /// Lines into a shared buffer, written out by the writer thread.
    Buffer(Arc<Shared>),
    /// Lines as strings on a channel ([`ProtocolLog::channel`]).
    Channel(mpsc::SyncSender<String>),
}

/// The buffer shared by the handles and the writer thread.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<Pending>,
    /// Signalled when the buffer stops being empty, and when the last handle is gone.
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

fn lock(m: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // A panic while formatting a line leaves plain bytes behind, still writable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Sink::Buffer(shared) = &self.sink {
            lock(&shared.state).closed = true;
            shared.wake.notify_one();
        }
    }
}

/// The writer thread of a log opened with [`ProtocolLog::open`]. [`LogWriter::finish`]
/// waits for it once every [`ProtocolLog`] handle is dropped (everything queued written).
#[derive(Debug)]
pub struct LogWriter {
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Waits until every queued line is written. Drop all [`ProtocolLog`] handles first,
    /// or this waits for ever.
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl ProtocolLog {
    /// A log that records nothing.
    pub fn off() -> ProtocolLog {
        ProtocolLog { inner: None }
    }

    /// Opens the log at `target` and starts its writer thread.
    pub fn open(target: &LogTarget) -> io::Result<(ProtocolLog, LogWriter)> {
        let sink: Box<dyn Write + Send> = match target {
            LogTarget::Off => {
                return Ok((ProtocolLog::off(), LogWriter { thread: None }));
            }
            LogTarget::Stderr => Box::new(io::stderr()),
            LogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        ProtocolLog::to_writer(sink)
    }

    /// A log written to `sink` by a writer thread (the `#Software` and `#Fields` lines
    /// first), for embedders with a sink of their own.
    pub fn to_writer(sink: Box<dyn Write + Send>) -> io::Result<(ProtocolLog, LogWriter)> {
        let shared = Arc::new(Shared::default());
        {
            let mut p = lock(&shared.state);
            let _ = writeln!(
                p.bytes,
                "#Software: rvp-server {}",
                env!("CARGO_PKG_VERSION")
            );
            p.bytes.extend_from_slice(FIELDS_LINE.as_bytes());
            p.bytes.push(b'\n');
        }
        let for_writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("rvp-protocol-log".into())
            .spawn(move || write_lines(&for_writer, sink))?;
        let log = ProtocolLog {
            inner: Some(Arc::new(Inner {
                sink: Sink::Buffer(shared),
                dropped: AtomicU64::new(0),
            })),
        };
        Ok((
            log,
            LogWriter {
                thread: Some(thread),
            },
        ))
    }

    /// A log whose lines (header lines included) arrive on a channel holding up to
    /// `capacity` of them: for tests and for embedders with their own sink.
    pub fn channel(capacity: usize) -> (ProtocolLog, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let _ = tx.try_send(format!(
            "#Software: rvp-server {}",
            env!("CARGO_PKG_VERSION")
        ));
        let _ = tx.try_send(FIELDS_LINE.to_owned());
        let log = ProtocolLog {
            inner: Some(Arc::new(Inner {
                sink: Sink::Channel(tx),
                dropped: AtomicU64::new(0),
            })),
        };
        (log, rx)
    }

    /// Whether lines are recorded at all.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Records one request. Never waits for I/O; drops the line when the buffer (or the
    /// channel) is full.
    pub fn record(&self, entry: &LogEntry<'_>) {
        let Some(inner) = &self.inner else { return };
        let kept = match &inner.sink {
            Sink::Buffer(shared) => {
                thread_local! {
                    static LINE: std::cell::RefCell<Vec<u8>> =
                        const { std::cell::RefCell::new(Vec::new()) };
                }
                // Formatted before taking the lock, which then only covers a copy: every
                // worker thread logs every request, and a line formatted under the lock
                // kept the others waiting (and sleeping on it) for the whole formatting.
                LINE.with_borrow_mut(|line| {
                    line.clear();
                    entry.write_line(line);
                    line.push(b'\n');
                    let mut p = lock(&shared.state);
                    let room = p.bytes.len() < LOG_BUFFER_BYTES;
                    let was_empty = p.bytes.is_empty();
                    if room {
                        p.bytes.extend_from_slice(line);
                    }
                    drop(p);
                    // A rare long line (a long request-target) does not stay allocated.
                    if line.capacity() > 4096 {
                        *line = Vec::new();
                    }
                    if !room {
                        return false;
                    }
                    // The writer sleeps on the condition variable only when it found the
                    // buffer empty: one notification per batch, not per line.
                    if was_empty {
                        shared.wake.notify_one();
                    }
                    true
                })
            }
            Sink::Channel(tx) => tx.try_send(entry.to_line()).is_ok(),
        };
        if !kept {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because the writer could not keep up (or was gone).
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.dropped.load(Ordering::Relaxed))
    }
}

fn write_lines(shared: &Shared, mut sink: Box<dyn Write + Send>) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut p = lock(&shared.state);
            while p.bytes.is_empty() && !p.closed {
                p = shared.wake.wait(p).unwrap_or_else(PoisonError::into_inner);
            }
            p.closed
        };
        if !closed {
            // Let the window's lines gather; recorders find the buffer non-empty and do
            // not notify meanwhile.
            std::thread::sleep(LOG_BATCH_WINDOW);
        }
        let closed = {
            let mut p = lock(&shared.state);
            // Swap buffers: the recorders keep the capacity of the previous batch.
            std::mem::swap(&mut p.bytes, &mut batch);
            p.closed
        };
        let ok = sink.write_all(&batch).is_ok() && sink.flush().is_ok();
        if !ok {
            tracing::warn!("protocol log: write failed; lines are being lost");
        }
        batch.clear();
        // Do not keep a burst's worth of memory for ever.
        if batch.capacity() > LOG_BUFFER_BYTES / 4 {
            batch = Vec::new();
        }
        if closed && lock(&shared.state).bytes.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_written_as_displayed() {
        for peer in [
            "127.0.0.1:1",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.20.3.4:8080",
            "[::1]:443",
            "[2001:db8::ff00:42:8329]:80",
            "[::ffff:10.0.0.1]:5",
        ] {
            let peer: SocketAddr = peer.parse().unwrap();
            let mut out = Vec::new();
            put_peer(&mut out, peer);
            assert_eq!(String::from_utf8(out).unwrap(), peer.to_string());
        }
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let mut s = Vec::new();
        put_utc(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(951_782_400_000_000 + 3_723_000_042),
        );
        assert_eq!(s, b"2000-02-29 01:02:03.000042");
        // The same second again (the thread's cached prefix), then the next one.
        let at = |micros: u64| {
            let mut s = Vec::new();
            put_utc(&mut s, UNIX_EPOCH + Duration::from_micros(micros));
            String::from_utf8(s).unwrap()
        };
        let t = 951_782_400_000_000 + 3_723_000_000;
        assert_eq!(at(t + 999_999), "2000-02-29 01:02:03.999999");
        assert_eq!(at(t + 1_000_000), "2000-02-29 01:02:04.000000");
        assert_eq!(at(t + 7), "2000-02-29 01:02:03.000007");
        assert_eq!(at(253_402_300_800_000_000), "10000-01-01 00:00:00.000000");
        assert_eq!(at(t + 8), "2000-02-29 01:02:03.000008");
    }

    proptest::proptest! {
        #[test]
        fn numbers_print_like_format(n: u64, width in 0usize..25) {
            let mut out = Vec::new();
            put_u64(&mut out, n, width);
            let w = width.min(20);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{n:0w$}"));
        }

        #[test]
        fn fields_never_hold_spaces_or_controls(field in "\\PC{0,20}|[ \t\u{a0}\u{85}\u{2028}a-z]{0,10}") {
            let mut out = Vec::new();
            put_field(&mut out, &field);
            let text = String::from_utf8(out).unwrap();
            proptest::prop_assert!(!text.is_empty());
            proptest::prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()), "{:?}", text);
            if !field.is_empty() {
                proptest::prop_assert_eq!(text.chars().count(), field.chars().count());
            }
        }
    }

    /// A sink that blocks every write until the test opens the gate.
    struct Gated(Arc<(Mutex<bool>, Condvar)>, Arc<Mutex<Vec<u8>>>);

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_drops_lines_beyond_the_buffer_and_counts_them() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let written = Arc::new(Mutex::new(Vec::new()));
        let (log, writer) =
            ProtocolLog::to_writer(Box::new(Gated(Arc::clone(&gate), Arc::clone(&written))))
                .unwrap();
        let e = LogEntry::new(
            ([127, 0, 0, 1], 1).into(),
            Some("alice"),
            "PROPPATCH",
            "/instmsg/aliases/alice",
            207,
            400,
            600,
            Duration::from_micros(250),
        );
        let line_len = e.to_line().len() + 1;
        // Enough lines to fill the buffer twice over, whatever the writer took first.
        let n = 2 * (LOG_BUFFER_BYTES / line_len) + 10;
        for _ in 0..n {
            log.record(&e);
        }
        let dropped = log.dropped();
        assert!(dropped > 0, "nothing dropped");
        {
            let (open, cv) = &*gate;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
        drop(log);
        writer.finish();
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let lines = text.lines().filter(|l| !l.starts_with('#')).count();
        // Every line kept reached the sink, whole; kept + dropped = recorded.
        assert_eq!(lines as u64 + dropped, n as u64);
        assert!(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .all(|l| l == e.to_line())
        );
        // Memory stayed bounded: at most the buffer plus the batch the writer held.
        assert!(
            lines * line_len <= 2 * LOG_BUFFER_BYTES + line_len,
            "{lines} lines kept"
        );
    }

    #[test]
    fn line_format_and_sanitising() {
        let mut e = LogEntry::new(
            ([127, 0, 0, 1], 4000).into(),
            Some("DOM\\al ice"),
            "PROPPATCH",
            "/instmsg/aliases/alice",
            207,
            402,
            455,
            Duration::from_micros(830),
        );
        e.time = UNIX_EPOCH;
        assert_eq!(
            e.to_line(),
            "1970-01-01 00:00:00.000000 127.0.0.1:4000 DOM\\al+ice PROPPATCH /instmsg/aliases/alice 207 402 455 830"
        );
        e.principal = None;
        e.method = "";
        assert!(e.to_line().contains(" - - /instmsg"), "{}", e.to_line());
    }

    /// An `ACL` line for `target` (status 200, 1 byte in and out, no time).
    fn acl(target: &str) -> LogEntry<'_> {
        LogEntry::new(
            ([127, 0, 0, 1], 1).into(),
            None,
            "ACL",
            target,
            200,
            1,
            1,
            Duration::ZERO,
        )
    }

    /// A protocol log writing to a fresh file in a directory of its own (`tag` names it):
    /// the directory, the file, the log and its writer.
    fn file_log(tag: &str) -> (PathBuf, PathBuf, ProtocolLog, LogWriter) {
        let dir = std::env::temp_dir().join(format!("rvp-log-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("protocol.log");
        let _ = std::fs::remove_file(&path);
        let (log, writer) = ProtocolLog::open(&LogTarget::File(path.clone())).unwrap();
        (dir, path, log, writer)
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let (log, rx) = ProtocolLog::channel(3);
        let e = acl("/");
        log.record(&e); // fills the third slot (two header lines)
        log.record(&e);
        log.record(&e);
        assert_eq!(log.dropped(), 2);
        assert_eq!(rx.try_iter().count(), 3);
        assert!(!ProtocolLog::off().is_enabled());
    }

    #[test]
    fn file_log_is_written() {
        let (dir, path, log, writer) = file_log("test");
        log.record(&acl("/x"));
        // Written within the batch window, while the log is still open.
        let start = std::time::Instant::now();
        let mut text = String::new();
        while start.elapsed() < Duration::from_secs(5) {
            text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(start.elapsed() < LOG_BATCH_WINDOW * 50, "{text}");
        drop(log);
        writer.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1], FIELDS_LINE);
        assert!(lines[2].ends_with(" ACL /x 200 1 1 0"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Lines recorded from several threads at once arrive whole, each exactly once, and a
    /// long line (formatted outside the lock, in a per-thread buffer) is no exception.
    #[test]
    fn concurrent_lines_arrive_whole() {
        let (dir, path, log, writer) = file_log("conc");
        let long = format!("/{}", "x".repeat(6000));
        std::thread::scope(|s| {
            for t in 0..4 {
                let (log, long) = (&log, &long);
                s.spawn(move || {
                    for i in 0..500 {
                        let target = if i == 250 {
                            long.clone()
                        } else {
                            format!("/t{t}/{i}")
                        };
                        log.record(&acl(&target));
                    }
                });
            }
        });
        drop(log);
        writer.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen: Vec<&str> = text
            .lines()
            .skip(2)
            .map(|l| l.split(' ').nth(5).expect("a target field"))
            .collect();
        assert!(text.lines().skip(2).all(|l| l.ends_with(" 200 1 1 0")));
        seen.sort_unstable();
        let mut want: Vec<String> = (0..4)
            .flat_map(|t| (0..500).map(move |i| (t, i)))
            .map(|(t, i)| {
                if i == 250 {
                    long.clone()
                } else {
                    format!("/t{t}/{i}")
                }
            })
            .collect();
        want.sort_unstable();
        assert_eq!(seen, want.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
