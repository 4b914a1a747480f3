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
//! Writing never blocks a connection: lines go through a bounded channel to one writer
//! thread. Woken by a line, the writer waits [`LOG_BATCH_WINDOW`] for more, then writes and
//! flushes everything queued at once: under load that is one wake-up and one `write` per
//! window instead of per request (waking the writer per line cost about a tenth of the
//! server's CPU in `benches/server_load`). When the channel is full (the disk
//! cannot keep up) lines are dropped and counted ([`ProtocolLog::dropped`]) rather than
//! slowing every client down. Diagnostics (start-up, errors, warnings) go through `tracing`
//! instead.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lines that may wait for the writer thread before new ones are dropped.
pub const LOG_QUEUE_LINES: usize = 16 * 1024;

/// How long the writer thread, woken by a line, lets more lines gather before it writes
/// them out: the longest a line waits before it reaches the log's file descriptor while
/// the server runs. [`LOG_QUEUE_LINES`] holds this window's lines up to 1.6 million
/// requests per second.
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
        let mut line = String::with_capacity(128);
        put_utc(&mut line, self.time);
        line.push(' ');
        let _ = write!(line, "{}", self.peer);
        for field in [self.principal.unwrap_or("-"), self.method, self.target] {
            line.push(' ');
            put_field(&mut line, field);
        }
        let micros = self.duration.as_micros();
        let _ = write!(
            line,
            " {} {} {} {}",
            self.status, self.bytes_in, self.bytes_out, micros
        );
        line
    }
}

fn put_field(out: &mut String, field: &str) {
    if field.is_empty() {
        out.push('-');
        return;
    }
    out.extend(field.chars().map(|c| {
        if c.is_whitespace() || c.is_control() {
            '+'
        } else {
            c
        }
    }));
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC.
fn put_utc(out: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    );
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
    tx: mpsc::SyncSender<String>,
    dropped: AtomicU64,
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
        let (log, rx) = ProtocolLog::channel(LOG_QUEUE_LINES);
        let thread = std::thread::Builder::new()
            .name("rvp-protocol-log".into())
            .spawn(move || write_lines(rx, sink))?;
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
                tx,
                dropped: AtomicU64::new(0),
            })),
        };
        (log, rx)
    }

    /// Whether lines are recorded at all.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Records one request. Never blocks; drops the line when the queue is full.
    pub fn record(&self, entry: &LogEntry<'_>) {
        if let Some(inner) = &self.inner
            && inner.tx.try_send(entry.to_line()).is_err()
        {
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

fn write_lines(rx: mpsc::Receiver<String>, sink: Box<dyn Write + Send>) {
    let mut out = BufWriter::new(sink);
    // Blocks while idle; ends when every sender is gone.
    while let Ok(line) = rx.recv() {
        let mut ok = writeln!(out, "{line}").is_ok();
        // Senders find the writer asleep rather than parked on the channel, so they need
        // not wake it: one wake-up per window under load.
        std::thread::sleep(LOG_BATCH_WINDOW);
        while let Ok(line) = rx.try_recv() {
            ok &= writeln!(out, "{line}").is_ok();
        }
        ok &= out.flush().is_ok();
        if !ok {
            tracing::warn!("protocol log: write failed; lines are being lost");
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let mut s = String::new();
        put_utc(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(951_782_400_000_000 + 3_723_000_042),
        );
        assert_eq!(s, "2000-02-29 01:02:03.000042");
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

    #[test]
    fn full_queue_drops_and_counts() {
        let (log, rx) = ProtocolLog::channel(3);
        let e = LogEntry::new(
            ([127, 0, 0, 1], 1).into(),
            None,
            "ACL",
            "/",
            200,
            1,
            1,
            Duration::ZERO,
        );
        log.record(&e); // fills the third slot (two header lines)
        log.record(&e);
        log.record(&e);
        assert_eq!(log.dropped(), 2);
        assert_eq!(rx.try_iter().count(), 3);
        assert!(!ProtocolLog::off().is_enabled());
    }

    #[test]
    fn file_log_is_written() {
        let dir = std::env::temp_dir().join(format!("rvp-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("protocol.log");
        let _ = std::fs::remove_file(&path);
        let (log, writer) = ProtocolLog::open(&LogTarget::File(path.clone())).unwrap();
        log.record(&LogEntry::new(
            ([127, 0, 0, 1], 1).into(),
            None,
            "ACL",
            "/x",
            200,
            1,
            1,
            Duration::ZERO,
        ));
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
}
