//! Shared harness for the integration tests: an engine with three principals and a
//! clock that runs on `t0 + Duration`, so hours pass in microseconds.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rvp_presence::{
    Answer, Caller, Delivery, DirectoryProperties, Engine, NodeKey, Outcome, Output, Policy,
    PrincipalId, RequestId,
};
use rvp_proto::CredentialKind;

pub mod ops;

pub const HOST: &str = "im.example.com";

pub fn url(alias: &str) -> String {
    format!("http://{HOST}/instmsg/aliases/{alias}")
}

pub fn key(alias: &str) -> NodeKey {
    NodeKey::new(HOST, alias).unwrap()
}

pub fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

/// A caller authenticated by Digest as `alias`.
pub fn me(alias: &str) -> Caller {
    Caller::authenticated(&url(alias), CredentialKind::Digest)
}

/// An unauthenticated caller asserting `alias`.
pub fn claim(alias: &str) -> Caller {
    Caller::asserted(&url(alias))
}

pub struct H {
    pub e: Engine,
    pub t0: Instant,
    pub now: Instant,
    next: u64,
    pub ids: Vec<PrincipalId>,
}

impl H {
    pub fn new() -> H {
        H::with_policy(Policy::default())
    }

    pub fn with_policy(policy: Policy) -> H {
        let t0 = Instant::now();
        let mut e = Engine::new(policy, t0).unwrap();
        let ids = ["alice", "bob", "carol"]
            .iter()
            .map(|a| {
                e.register_principal(
                    key(a),
                    DirectoryProperties::new(&a.to_uppercase(), &format!("{a}@example.com")),
                )
                .unwrap()
            })
            .collect();
        H {
            e,
            t0,
            now: t0,
            next: 0,
            ids,
        }
    }

    /// Moves the clock to `t0 + secs` (never backwards) and returns it.
    pub fn at(&mut self, secs: u64) -> Instant {
        self.at_ms(secs * 1000)
    }

    pub fn at_ms(&mut self, ms: u64) -> Instant {
        let t = self.t0 + Duration::from_millis(ms);
        if t > self.now {
            self.now = t;
        }
        self.now
    }

    pub fn req(&mut self) -> RequestId {
        self.next += 1;
        RequestId(self.next)
    }

    /// Every queued output, split.
    pub fn drain(&mut self) -> (Vec<Answer>, Vec<Delivery>) {
        let mut a = Vec::new();
        let mut d = Vec::new();
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Respond(x) => a.push(*x),
                Output::Deliver(x) => d.push(x),
                _ => panic!("unexpected output"),
            }
        }
        (a, d)
    }

    /// The single answer queued (panics otherwise), plus deliveries.
    pub fn one(&mut self) -> (Outcome, Vec<Delivery>) {
        let (a, d) = self.drain();
        assert_eq!(a.len(), 1, "exactly one answer expected, got {a:?}");
        (a.into_iter().next().unwrap().outcome, d)
    }
}
