//! The fan-out latency benchmark: one publisher, `W` watchers whose login call-backs are
//! listeners of ours; state changes by PROPPATCH, latency from the request's send instant
//! to the instant the last watcher has received a NOTIFY reflecting it.
//!
//! Each watcher `wN` has a login subscription (`pragma/notify` on its own node, call-back
//! `http://127.0.0.1:<its own listener port>`) and a presence subscription
//! (`update/propchange` on the publisher's node, call-back its *logical* URL), exactly as
//! Windows Messenger signs on: a change goes publisher node -> `wN`'s logical node -> `wN`'s
//! login call-back.
//!
//! Presence updates to one watcher may coalesce (the server keeps only the latest state
//! per watcher when deliveries lag). A change therefore counts as delivered to a watcher
//! when that watcher has received a NOTIFY carrying this change's state or a later change's.
//! States cycle with period 5; a NOTIFY is matched, per watcher and in order, to the latest
//! change with its state sent before it arrived. The match is exact when nothing coalesced
//! (NOTIFYs received = changes × watchers, printed) or a watcher is never 5 changes behind.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvp_interop::{path, url};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::client::{Conn, Reader, request};
use crate::sink::{Event, Sinks};

/// Presence states used: the initial one, then changes cycle through the other five.
pub(crate) const STATES: [&str; 6] = [
    "online",
    "busy",
    "away",
    "on-phone",
    "at-lunch",
    "back-soon",
];
/// PROPPATCHes in flight at most on the publisher's connection.
const WINDOW: usize = 16;
/// After the last answer, how long NOTIFYs may keep arriving.
const DRAIN_MAX: Duration = Duration::from_secs(20);
/// Delivery is considered finished after this long without a new NOTIFY.
const QUIET: Duration = Duration::from_millis(500);

/// The publisher.
pub(crate) const PUBLISHER: &str = "pub";

/// Watcher aliases.
pub(crate) fn watcher(i: usize) -> String {
    format!("w{i:04}")
}

/// State index (into [`STATES`]) of change `k`.
fn state_of(k: usize) -> u8 {
    // 1 + k % 5 is at most 5.
    u8::try_from(1 + k % 5).unwrap_or(1)
}

pub(crate) fn proppatch(alias: &str, state: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d='DAV:' \
         xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'>\
         <d:set><d:prop><r:state><r:leased-value><r:value><r:{state}/></r:value>\
         <r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout>\
         </r:leased-value></r:state></d:prop></d:set></d:propertyupdate>"
    );
    let from = url(alias);
    request(
        "PROPPATCH",
        &path(alias),
        &[("RVP-From-Principal", &from), ("Content-Type", "text/xml")],
        &body,
    )
}

/// A login subscription of `alias` with call-back `callback`.
pub(crate) fn login(alias: &str, callback: SocketAddr) -> Vec<u8> {
    let from = url(alias);
    let cb = format!("http://{callback}");
    request(
        "SUBSCRIBE",
        &path(alias),
        &[
            ("Notification-Type", "pragma/notify"),
            ("Call-Back", &cb),
            ("Subscription-Lifetime", "14400"),
            ("RVP-From-Principal", &from),
        ],
        "",
    )
}

fn watch(alias: &str, target: &str) -> Vec<u8> {
    let from = url(alias);
    request(
        "SUBSCRIBE",
        &path(target),
        &[
            ("Notification-Type", "update/propchange"),
            ("Call-Back", &from),
            ("Subscription-Lifetime", "14400"),
            ("RVP-From-Principal", &from),
        ],
        "",
    )
}

fn expect(what: &str, reply: &crate::client::Reply, ok: &[u16]) -> io::Result<()> {
    if ok.contains(&reply.status) {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{what}: answered {} instead of {ok:?}:\n{}",
        reply.status,
        String::from_utf8_lossy(&reply.raw)
    )))
}

/// Signs the publisher on (state `online`) and subscribes every watcher.
pub(crate) async fn setup(server: SocketAddr, sinks: &Sinks) -> io::Result<()> {
    let mut c = Conn::connect(server).await?;
    let r = c.send(&proppatch(PUBLISHER, STATES[0])).await?;
    expect("publisher PROPPATCH", &r, &[207])?;
    for (i, cb) in sinks.addrs.iter().enumerate() {
        let w = watcher(i);
        let r = c.send(&login(&w, *cb)).await?;
        expect(&format!("{w} login SUBSCRIBE"), &r, &[200])?;
        let r = c.send(&watch(&w, PUBLISHER)).await?;
        expect(&format!("{w} propchange SUBSCRIBE"), &r, &[200, 207])?;
    }
    Ok(())
}

/// One phase's measurements.
#[derive(Debug, Clone)]
pub(crate) struct Phase {
    pub(crate) changes: usize,
    /// First send to last NOTIFY.
    pub(crate) elapsed: Duration,
    pub(crate) notifies: usize,
    /// Per change: latency to the last watcher, `None` if some watcher never got it.
    pub(crate) latencies: Vec<Option<Duration>>,
    pub(crate) non_207: usize,
}

impl Phase {
    /// Full fan-outs delivered per second (NOTIFYs received / watchers / elapsed).
    pub(crate) fn delivered_changes_per_sec(&self, watchers: usize) -> f64 {
        lossy(self.notifies) / lossy(watchers) / self.elapsed.as_secs_f64()
    }

    /// Changes absorbed per second (changes / elapsed, coalesced ones included).
    pub(crate) fn changes_per_sec(&self) -> f64 {
        lossy(self.changes) / self.elapsed.as_secs_f64()
    }

    pub(crate) fn lost(&self) -> usize {
        self.latencies.iter().filter(|l| l.is_none()).count()
    }

    /// The `q`-quantile (0..=1) of the delivered changes' latencies.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        let mut v: Vec<Duration> = self.latencies.iter().flatten().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        let idx = (q * lossy(v.len() - 1)).round();
        // idx is within 0..len by construction.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        v.get(idx as usize).copied()
    }
}

#[allow(clippy::cast_precision_loss)]
fn lossy(n: usize) -> f64 {
    n as f64
}

/// Sends `changes` PROPPATCHes of the publisher: back to back (at most [`WINDOW`] in
/// flight) when `interval` is `None`, else one every `interval` (open loop: the latency
/// of a change counts from its scheduled instant, so a server that falls behind is not
/// flattered). Then waits for the NOTIFYs to stop arriving and matches them to changes.
pub(crate) async fn phase(
    server: SocketAddr,
    sinks: &Sinks,
    changes: usize,
    interval: Option<Duration>,
) -> io::Result<Phase> {
    let watchers = sinks.addrs.len();
    let _ = sinks.take_events();
    let requests: Vec<Vec<u8>> = (0..5)
        .map(|k| proppatch(PUBLISHER, STATES[usize::from(state_of(k))]))
        .collect();
    let stream = TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let window = Arc::new(Semaphore::new(WINDOW));
    let reader_window = window.clone();
    let reader = tokio::spawn(async move {
        let mut rd = Reader::new(rd);
        let mut non_207 = 0usize;
        for _ in 0..changes {
            let r = rd.next().await?;
            if r.status != 207 {
                non_207 += 1;
            }
            reader_window.add_permits(1);
        }
        Ok::<usize, io::Error>(non_207)
    });
    let mut sent = Vec::with_capacity(changes);
    let start = Instant::now();
    for (k, req) in requests.iter().cycle().take(changes).enumerate() {
        let at = match interval {
            Some(iv) => {
                let due = start + iv * u32::try_from(k).map_err(io::Error::other)?;
                tokio::time::sleep_until(due.into()).await;
                due
            }
            None => Instant::now(),
        };
        window.acquire().await.map_err(io::Error::other)?.forget();
        let at = if interval.is_some() {
            at
        } else {
            Instant::now()
        };
        wr.write_all(req).await?;
        sent.push(at);
    }
    let non_207 = reader.await.map_err(io::Error::other)??;
    // Wait until the NOTIFYs stop (bounded).
    let drain_start = Instant::now();
    let mut last = sinks.count();
    let mut last_change = Instant::now();
    while drain_start.elapsed() < DRAIN_MAX {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = sinks.count();
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= QUIET {
            break;
        }
    }
    drop(wr);
    let events = sinks.take_events();
    let notifies = events.iter().filter(|e| e.at >= start).count();
    let end = events.iter().map(|e| e.at).max().unwrap_or(start);
    let latencies = latencies(&events, &sent, watchers);
    Ok(Phase {
        changes,
        elapsed: end.saturating_duration_since(start),
        notifies,
        latencies,
        non_207,
    })
}

/// Per change: the latency to the last watcher that got it (see the module docs for the
/// matching rule), or `None` if a watcher never did.
fn latencies(events: &[Event], sent: &[Instant], watchers: usize) -> Vec<Option<Duration>> {
    let n = sent.len();
    let mut per_watcher: Vec<Vec<Event>> = vec![Vec::new(); watchers];
    for e in events {
        if let Some(v) = usize::try_from(e.listener)
            .ok()
            .and_then(|i| per_watcher.get_mut(i))
        {
            v.push(*e);
        }
    }
    let mut done: Vec<Option<Instant>> = sent.iter().map(|s| Some(*s)).collect();
    for evs in &mut per_watcher {
        evs.sort_by_key(|e| e.at);
        let mut next = 0usize;
        for e in evs.iter() {
            let Some(s) = e.state else { continue };
            // The latest change with this state sent before the NOTIFY arrived: updates
            // to one watcher coalesce to the latest state, in order.
            let hit = (next..n)
                .rev()
                .find(|&k| state_of(k) == s && sent[k] <= e.at);
            if let Some(k) = hit {
                for t in done[next..=k].iter_mut().flatten() {
                    *t = (*t).max(e.at);
                }
                next = k + 1;
            }
        }
        for d in &mut done[next..] {
            *d = None;
        }
    }
    done.iter()
        .zip(sent)
        .map(|(d, s)| d.map(|t| t.saturating_duration_since(*s)))
        .collect()
}

/// Checks the matching rule on a hand-made trace (run at start-up: a `harness = false`
/// bench has no test runner).
pub(crate) fn self_check() {
    {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let sent = [ms(0), ms(10), ms(20)];
        let ev = |w: u32, at: u64, k: usize| Event {
            listener: w,
            at: ms(at),
            state: Some(state_of(k)),
        };
        // Watcher 0 sees every change; watcher 1 only the last (coalesced).
        let events = [ev(0, 5, 0), ev(0, 15, 1), ev(0, 25, 2), ev(1, 40, 2)];
        let l = latencies(&events, &sent, 2);
        assert_eq!(
            l,
            vec![
                Some(Duration::from_millis(40)),
                Some(Duration::from_millis(30)),
                Some(Duration::from_millis(20))
            ]
        );
        // A watcher that never hears of change 2: lost.
        let l = latencies(&events[..3], &sent, 2);
        assert_eq!(l, vec![None, None, None]);
        // Changes 1 and 6 carry the same state: one NOTIFY with it after change 6 was sent
        // covers all seven changes.
        let sent: Vec<Instant> = (0..7).map(|k| ms(10 * k)).collect();
        let l = latencies(&[ev(0, 75, 6)], &sent, 1);
        assert_eq!(l[0], Some(Duration::from_millis(75)));
        assert_eq!(l[6], Some(Duration::from_millis(15)));
    }
}
