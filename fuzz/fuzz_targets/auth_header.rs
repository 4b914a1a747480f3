//! The `Authorization` header and the authentication decision
//! (`rvp_server::auth::Authenticator::authenticate`) against a small user directory: a
//! password user whose HA1 has a zero byte at index 8 (librvp's truncated answer accepted),
//! one with a zero byte at index 3 (never accepted truncated), an HA1-only user.
//!
//! The first input byte picks the mode:
//! * even: raw. The rest is `method \n target \n header value`, arbitrary bytes.
//! * odd: structured. The rest drives edits of a valid librvp-style Digest answer to a real
//!   challenge: which response (standard, librvp's truncated, other cuts, garbage), which
//!   parameters are dropped, repeated, replaced, re-quoted or re-cased, extra parameters,
//!   the method, target and time.
//!
//! Never a panic, and whatever is accepted is right: the `response` is the standard answer
//! for the username as sent (or librvp's truncated one where the rule allows it), for the
//! request's method, and the same header is never accepted twice.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rvp_proto::digest::{Authorization, QopAuth, compute_librvp_response, compute_response};
use rvp_server::auth::{
    AuthError, Authenticator, DigestConfig, Ha1, Identity, LibrvpCompat, NonceSecret, UserDirectory,
};

const REALM: &str = "localhost";
/// HA1 `d7c8d45b1beadbc1 00 4c...`: zero byte at index 8.
const ALICE_PASSWORD: &str = "alice-pw-10";
/// HA1 `ded97d 00 6d...`: zero byte at index 3.
const CAROL_PASSWORD: &str = "carol-pw-3";
const BOB_PASSWORD: &str = "builder";

const METHODS: [&str; 8] = [
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "SUBSCRIPTIONS",
    "NOTIFY",
    "PROPFIND",
    "PROPPATCH",
    "ACL",
    "GET",
];
const TARGETS: [&str; 4] = [
    "/instmsg/aliases/alice",
    "http://localhost/instmsg/aliases/alice",
    "/instmsg/aliases/bob",
    "/",
];
const USERNAMES: [&str; 7] = [
    "alice",
    "ALICE",
    "CORP\\alice",
    "CORP/alice",
    "bob",
    "carol",
    "mallory",
];

/// Reads bytes from the fuzz input, zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn pick<'t, T>(&mut self, from: &'t [T]) -> &'t T {
        &from[usize::from(self.byte()) % from.len()]
    }

    /// A short string of input bytes (length from one byte, at most 63).
    fn text(&mut self) -> String {
        let n = usize::from(self.byte() % 64).min(self.0.len());
        let (t, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(t).into_owned()
    }
}

fn authenticator(t0: Instant) -> Authenticator {
    let mut users = UserDirectory::new(REALM).expect("valid domain");
    users.add_password("alice", ALICE_PASSWORD).expect("valid");
    users.add_password("carol", CAROL_PASSWORD).expect("valid");
    users
        .add_ha1("bob", "bob", Ha1::from_password("bob", REALM, BOB_PASSWORD))
        .expect("valid");
    Authenticator::new(
        DigestConfig::new(REALM),
        NonceSecret::from_bytes([9; 32]),
        users,
        t0,
    )
}

/// The HA1 the directory has for a username form as sent, if any.
fn ha1_of(username: &str) -> Option<Ha1> {
    let local = username.rsplit(['\\', '/']).next().unwrap_or(username);
    let password = match local.to_ascii_lowercase().as_str() {
        "alice" => ALICE_PASSWORD,
        "carol" => CAROL_PASSWORD,
        "bob" if username == "bob" => BOB_PASSWORD,
        _ => return None,
    };
    Some(Ha1::from_password(username, REALM, password))
}

/// Whatever `authenticate` accepted must be a right answer (see the module docs).
fn check_accepted(auth: &Authenticator, now: Instant, method: &str, target: &str, header: &[u8]) {
    let Ok(Identity::Authenticated(who)) = auth.authenticate(now, method, target, Some(header))
    else {
        return;
    };
    let p = Authorization::parse(header).expect("an accepted header parses");
    let username = p.username.as_deref().expect("username");
    assert_eq!(&*who.username, username);
    let ha1 = ha1_of(username).expect("accepted only for a known user");
    let uri = p.uri.as_deref().expect("uri");
    let nonce = p.nonce.as_deref().expect("nonce");
    let qop = QopAuth {
        nc: p.nc.as_deref().expect("nc: qop is required"),
        cnonce: p.cnonce.as_deref().expect("cnonce"),
    };
    let got = p
        .response
        .as_deref()
        .expect("response")
        .to_ascii_lowercase();
    let standard = compute_response(&ha1, method, uri, nonce, Some(qop));
    let truncated = matches!(ha1.librvp_compatible(), LibrvpCompat::Truncated { .. })
        && got == compute_librvp_response(&ha1, method, uri, nonce, Some(qop));
    assert!(got == standard || truncated, "accepted a wrong response");
    // Never twice.
    assert!(
        auth.authenticate(now, method, target, Some(header))
            .is_err(),
        "a replay was accepted"
    );
}

fn raw(data: &[u8]) {
    let t0 = Instant::now();
    let auth = authenticator(t0);
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let target = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let header = parts.next().unwrap_or_default();
    let _ = Authorization::parse(header);
    let _ = auth.authenticate(t0, &method, &target, None);
    check_accepted(&auth, t0, &method, &target, header);
    let mut digest = b"Digest ".to_vec();
    digest.extend_from_slice(header);
    check_accepted(&auth, t0, &method, &target, &digest);
    if let Err(e) = auth.authenticate(t0, &method, &target, Some(&digest)) {
        let _ = auth.challenge(t0, Some(&e)).to_header_value();
    }
}

/// One auth-param of the header being built.
struct Param {
    name: String,
    value: String,
    quoted: bool,
}

fn structured(data: &[u8]) {
    let mut b = Bytes(data);
    let t0 = Instant::now();
    let auth = authenticator(t0);
    let method = *b.pick(&METHODS);
    let target = *b.pick(&TARGETS);
    let username = *b.pick(&USERNAMES);
    let challenge = auth.challenge(t0, None);
    let nonce = challenge.nonce().to_owned();
    let uri = if b.byte() % 8 == 0 {
        *b.pick(&TARGETS)
    } else {
        target
    };
    let nc = match b.byte() % 8 {
        0 => format!("{:08x}", b.byte()),
        1 => b.text(),
        _ => "00000001".to_owned(),
    };
    let cnonce = if b.byte() % 8 == 0 {
        b.text()
    } else {
        "3b9c1e7a".to_owned()
    };
    let qop = QopAuth {
        nc: &nc,
        cnonce: &cnonce,
    };
    let ha1 = ha1_of(username).unwrap_or_else(|| Ha1::from_password(username, REALM, "x"));
    let response = match b.byte() % 6 {
        0 | 1 => compute_response(&ha1, method, uri, &nonce, Some(qop)),
        2 | 3 => compute_librvp_response(&ha1, method, uri, &nonce, Some(qop)),
        4 => compute_response(&ha1, method, uri, &nonce, None),
        _ => b.text(),
    };
    let mut params: Vec<Param> = [
        ("username", username, true),
        ("realm", REALM, true),
        ("nonce", nonce.as_str(), true),
        ("uri", uri, true),
        ("algorithm", "MD5", true),
        ("qop", "auth", false),
        ("nc", nc.as_str(), false),
        ("cnonce", cnonce.as_str(), true),
        ("response", response.as_str(), true),
    ]
    .into_iter()
    .map(|(name, value, quoted)| Param {
        name: name.to_owned(),
        value: value.to_owned(),
        quoted,
    })
    .collect();
    // Edits, one op byte per parameter (most bytes keep it as is).
    let mut edited = Vec::with_capacity(params.len() + 4);
    for mut p in params.drain(..) {
        match b.byte() {
            0 => continue,
            1 => edited.push(Param {
                name: p.name.clone(),
                value: b.text(),
                quoted: true,
            }),
            2 => p.value = b.text(),
            3 => p.quoted = !p.quoted,
            4 => p.name = p.name.to_ascii_uppercase(),
            5 => p.value = p.value.to_ascii_uppercase(),
            6 => p.value.push_str(&b.text()),
            _ => {}
        }
        edited.push(p);
    }
    for _ in 0..(b.byte() % 4) {
        let (name, value) = *b.pick(&[
            ("opaque", "zz"),
            ("userhash", "true"),
            ("x-ext", "1"),
            ("qop", "auth-int"),
            ("algorithm", "MD5-sess"),
            ("stale", "true"),
        ]);
        edited.push(Param {
            name: name.to_owned(),
            value: value.to_owned(),
            quoted: b.byte() % 2 == 0,
        });
    }
    let mut header = String::from("Digest ");
    for (i, p) in edited.iter().enumerate() {
        if i > 0 {
            header.push_str(", ");
        }
        header.push_str(&p.name);
        header.push('=');
        if p.quoted {
            header.push('"');
            for c in p.value.chars() {
                if c == '"' || c == '\\' {
                    header.push('\\');
                }
                header.push(c);
            }
            header.push('"');
        } else {
            header.push_str(&p.value);
        }
    }
    header.push_str(&b.text());
    // Up to 510 s later: past the 300 s nonce lifetime from byte 151 on.
    let now = t0 + Duration::from_secs(u64::from(b.byte()) * 2);
    check_accepted(&auth, now, method, target, header.as_bytes());
    if let Err(e @ AuthError::Digest(_)) =
        auth.authenticate(now, method, target, Some(header.as_bytes()))
    {
        let c = auth.challenge(now, Some(&e));
        assert_ne!(c.nonce(), nonce);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => structured(rest),
        Some((_, rest)) => raw(rest),
        None => {}
    }
});
