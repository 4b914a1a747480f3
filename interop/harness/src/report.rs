//! What the real-client scenario tests share besides the clients themselves: a failed
//! step ([`Failure`], [`ensure!`](crate::ensure)), the server's logs read for a report
//! ([`read_lossy`], [`tail`]), its protocol log line by line ([`LogLine`]), and a
//! [`Watchdog`] that bounds a whole test.
//!
//! These tests run real processes (rvp-server, dnsmasq, librvp under libpurple): when a
//! step fails they print everything that can explain it instead of panicking at the first
//! assertion, and no wait may outlive the test's own time limit.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// A failed step: what was expected and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl From<HarnessError> for Failure {
    fn from(e: HarnessError) -> Failure {
        Failure(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure(s)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of one step of a scenario.
pub type Step = Result<(), Failure>;

/// Returns `Err(Failure(format!(...)))` from the enclosing function unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::report::Failure(format!($($fmt)+)).into());
        }
    };
}

/// The file's text (invalid UTF-8 replaced), or a line saying why it could not be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map_or_else(
        |e| format!("<cannot read {}: {e}>", path.display()),
        |b| String::from_utf8_lossy(&b).into_owned(),
    )
}

/// The last `lines` lines of `text`, after a line counting the ones left out.
///
/// ```
/// use rvp_interop::report::tail;
/// assert_eq!(tail("a\nb\nc\n", 2), "[... 1 earlier lines ...]\nb\nc\n");
/// assert_eq!(tail("a\n", 5), "a\n");
/// ```
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = String::new();
    if start > 0 {
        let _ = writeln!(out, "[... {start} earlier lines ...]");
    }
    for line in &all[start..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One request line of rvp-server's protocol log (`[log] protocol_log`):
/// `date time c-ip cs-username cs-method cs-uri-stem sc-status cs-bytes sc-bytes
/// time-taken-us`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The line as written.
    pub raw: String,
    /// `cs-username`: the Digest user, or the asserted principal, or `-`.
    pub principal: String,
    /// `cs-method`.
    pub method: String,
    /// `cs-uri-stem`.
    pub target: String,
    /// `sc-status`.
    pub status: u16,
}

impl LogLine {
    /// Reads one line; `None` for a comment (`#Fields:` ...) or a line of another shape.
    ///
    /// ```
    /// use rvp_interop::report::LogLine;
    /// let l = LogLine::parse(
    ///     "2026-12-07 10:00:00 127.0.0.1 alice@localhost NOTIFY /instmsg/aliases/bob 200 512 21 80",
    /// )
    /// .unwrap();
    /// assert_eq!((l.method.as_str(), l.status), ("NOTIFY", 200));
    /// assert!(l.by("alice") && !l.by("ali"));
    /// assert!(LogLine::parse("#Fields: date time").is_none());
    /// ```
    pub fn parse(line: &str) -> Option<LogLine> {
        if line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 {
            return None;
        }
        Some(LogLine {
            raw: line.to_owned(),
            principal: f[3].to_owned(),
            method: f[4].to_owned(),
            target: f[5].to_owned(),
            status: f[6].parse().ok()?,
        })
    }

    /// Whether the principal column names `alias` as an authenticated (Digest) user: the
    /// user name librvp sends (`alice`) or the sign-in name (`alice@localhost`). An asserted
    /// identity is logged as the principal's URL or a bare host, which does not count.
    pub fn by(&self, alias: &str) -> bool {
        let p = self.principal.as_str();
        p == alias || p.strip_prefix(alias).is_some_and(|r| r.starts_with('@'))
    }

    /// Every request line of the protocol log at `path` (an unreadable file has none).
    pub fn read_all(path: &Path) -> Vec<LogLine> {
        read_lossy(path)
            .lines()
            .filter_map(LogLine::parse)
            .collect()
    }
}

/// Bounds a whole test: if it is not dropped within `whole`, it runs the test's
/// `on_expiry` (print the logs, kill the processes the test started) and ends the process
/// with libtest's failure status, so a client wait that never returns cannot hang the
/// suite.
#[derive(Debug)]
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    /// Arms the watchdog for `test`.
    #[allow(clippy::print_stderr)] // the report of a test that hung is the point
    pub fn arm(
        test: &'static str,
        whole: Duration,
        on_expiry: impl FnOnce() -> String + Send + 'static,
    ) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let deadline = Instant::now() + whole;
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let report = on_expiry();
            eprintln!("\nFAIL {test}: the whole test exceeded {whole:?}\n{report}");
            std::process::exit(101);
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}
