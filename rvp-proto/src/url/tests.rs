#![allow(clippy::unwrap_used)]

use super::fast::fast_alias;
use super::syntax::{PathKind, classify_path, validate_authority};
use super::*;
use proptest::prelude::*;

#[test]
fn logical_canonical() {
    let u: LogicalUrl = "HTTP://IM.Acme.COM:80/instmsg/aliases/Bruce%42"
        .parse()
        .unwrap();
    assert_eq!(u.host(), "im.acme.com");
    assert_eq!(u.alias(), "bruceb");
    assert_eq!(u.to_string(), "http://im.acme.com/instmsg/aliases/bruceb");
    assert_eq!(u.path(), "/instmsg/aliases/bruceb");
    let p: LogicalUrl = "http://localhost:8080/instmsg/aliases/alice"
        .parse()
        .unwrap();
    assert_eq!(p.host(), "localhost:8080");
    assert_eq!(p.to_string(), "http://localhost:8080/instmsg/aliases/alice");
    assert_eq!(
        LogicalUrl::new("IM.acme.com", "Bruce B")
            .unwrap()
            .to_string(),
        "http://im.acme.com/instmsg/aliases/bruce%20b"
    );
}

#[test]
fn logical_rejects() {
    let bad = [
        ("http://h/instmsg/aliases/", UrlError::EmptyAlias),
        (
            "http://h/instmsg/aliases/..",
            UrlError::DotSegment("/instmsg/aliases/..".into()),
        ),
        (
            "http://h/instmsg/aliases/%2e",
            UrlError::DotSegment("/instmsg/aliases/%2e".into()),
        ),
        (
            "http://h/instmsg/aliases/a%zz",
            UrlError::InvalidEscape("a%zz".into()),
        ),
        (
            "http://h/instmsg/aliases/a%",
            UrlError::InvalidEscape("a%".into()),
        ),
        (
            "http://h/instmsg/aliases/%ff",
            UrlError::NotUtf8("%ff".into()),
        ),
        (
            "http://h/instmsg/aliases/a%2fb",
            UrlError::SlashInAlias("a/b".into()),
        ),
        ("http://h/instmsg/aliases/a b", UrlError::InvalidChar(' ')),
        (
            "http://h/instmsg/aliases/a?x=1",
            UrlError::QueryOrFragment("http://h/instmsg/aliases/a?x=1".into()),
        ),
        (
            "http://u@h/instmsg/aliases/a",
            UrlError::InvalidHost("u@h".into()),
        ),
        (
            "http://h:0/instmsg/aliases/a",
            UrlError::InvalidPort("0".into()),
        ),
        (
            "http://h:99999/instmsg/aliases/a",
            UrlError::InvalidPort("99999".into()),
        ),
        (
            "https://h/instmsg/aliases/a",
            UrlError::NotHttp("https://h/instmsg/aliases/a".into()),
        ),
        (
            "http:///instmsg/aliases/a",
            UrlError::InvalidHost(String::new()),
        ),
        (
            "http://h/groups/a",
            UrlError::NotLogical("http://h/groups/a".into()),
        ),
        (
            "http://h/instmsg/aliases/a/",
            UrlError::NotLogical("/instmsg/aliases/a/".into()),
        ),
    ];
    for (s, e) in bad {
        assert_eq!(s.parse::<LogicalUrl>(), Err(e), "{s}");
    }
    assert!(LogicalUrl::new("h", "").is_err());
    assert!(LogicalUrl::new("h", "..").is_err());
    assert!(LogicalUrl::new("h/x", "a").is_err());
    assert_eq!(
        LogicalUrl::new("h", &"a".repeat(MAX_ALIAS_LEN + 1)),
        Err(UrlError::AliasTooLong(MAX_ALIAS_LEN + 1))
    );
    // The longest alias, every byte percent-encoded on output, with the longest host:
    // the formatted logical and physical URLs still parse back (found by fuzzing).
    let host = format!("{}.x", "h".repeat(253));
    let worst = LogicalUrl::new(&host, &")".repeat(MAX_ALIAS_LEN)).expect("at the limit");
    assert_eq!(worst.to_string().parse::<LogicalUrl>(), Ok(worst.clone()));
    let physical = worst.to_physical(&host);
    assert_eq!(physical.to_string().parse::<PhysicalUrl>(), Ok(physical));
}

#[test]
fn physical() {
    let s = "http://imhome1.domain2.com/instmsg/local/im.domain2.com/instmsg/aliases/kevinf";
    let p: PhysicalUrl = s.parse().unwrap();
    assert_eq!(p.home(), "imhome1.domain2.com");
    assert_eq!(
        p.logical().to_string(),
        "http://im.domain2.com/instmsg/aliases/kevinf"
    );
    assert_eq!(p.to_string(), s);
    assert_eq!(p.logical().to_physical("IMHOME1.domain2.com"), p);
    assert_eq!(
        p.path(),
        "/instmsg/local/im.domain2.com/instmsg/aliases/kevinf"
    );
    assert!(
        "http://h/instmsg/local/im/x/instmsg/aliases/a"
            .parse::<PhysicalUrl>()
            .is_err()
    );
    assert!("http://h/instmsg/local/".parse::<PhysicalUrl>().is_err());
    assert!(
        "http://h/instmsg/local/a b/instmsg/aliases/x"
            .parse::<NodeUrl>()
            .is_err()
    );
}

#[test]
fn local_node() {
    for s in [
        "http://198.176.154.132:1234",
        "http://198.176.154.132:1234/",
    ] {
        let l: LocalNodeUrl = s.parse().unwrap();
        assert_eq!((l.host(), l.port()), ("198.176.154.132", 1234));
        assert_eq!(l.to_string(), "http://198.176.154.132:1234");
    }
    let l: LocalNodeUrl = "http://[::1]:9".parse().unwrap();
    assert_eq!((l.host(), l.port()), ("[::1]", 9));
    let l: LocalNodeUrl = "http://Host".parse().unwrap();
    assert_eq!((l.host(), l.port()), ("host", 80));
    assert_eq!(
        LocalNodeUrl::new("127.0.0.1", 43663).unwrap().authority(),
        "127.0.0.1:43663"
    );
    assert!(LocalNodeUrl::new("127.0.0.1:5", 43663).is_err());
}

#[test]
fn node_url_other() {
    let n = NodeUrl::parse("http://IM.example.com/groups/sales").unwrap();
    assert_eq!(n.to_string(), "http://im.example.com/groups/sales");
    assert_eq!(n.logical(), None);
    assert!(NodeUrl::parse("http://h/groups/../x").is_err());
    assert!(NodeUrl::parse("http://h/groups//x").is_err());
    assert!(NodeUrl::parse("im.example.com").is_err());
}

#[test]
fn targets() {
    let t = parse_target("/instmsg/aliases/Bob", Some("LOCALHOST")).unwrap();
    assert_eq!(t.path, NodePath::Alias("bob".into()));
    assert_eq!(
        t.logical().unwrap().to_string(),
        "http://localhost/instmsg/aliases/bob"
    );
    assert!(!t.absolute);
    let t = parse_target("/aliases/salman", None).unwrap();
    assert_eq!(t.path.alias(), Some("salman"));
    let t = parse_target(
        "http://im.example.com/instmsg/aliases/stevem",
        Some("other"),
    )
    .unwrap();
    assert!(t.absolute);
    assert_eq!(t.authority.as_deref(), Some("im.example.com"));
    let t = parse_target(
        "/instmsg/local/im.domain2.com/instmsg/aliases/kevinf",
        Some("imhome1"),
    )
    .unwrap();
    assert_eq!(t.path.alias(), Some("kevinf"));
    assert_eq!(
        parse_target("/", Some("127.0.0.1:1234")).unwrap().path,
        NodePath::Root
    );
    assert_eq!(
        parse_target("/lists/x", None).unwrap().path,
        NodePath::Other("/lists/x".into())
    );
    for bad in [
        "*",
        "im.acme.com:80",
        "",
        "/instmsg/aliases/../x",
        "/a/./b",
        "/x?y",
        "/instmsg/aliases/%G0",
    ] {
        assert!(parse_target(bad, None).is_err(), "{bad}");
    }
}

fn arb_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}",
        (any::<[u8; 4]>()).prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
        "\\[::[0-9a-f]{1,4}\\]",
    ]
    .prop_flat_map(|h| (Just(h), prop::option::of(1u16..)))
    .prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

fn arb_alias() -> impl Strategy<Value = String> {
    "[^/\\p{Cc}]{1,20}".prop_filter("dot alias", |a| a != "." && a != "..")
}

proptest! {
    #[test]
    fn logical_round_trip(host in arb_host(), alias in arb_alias()) {
        let u = LogicalUrl::new(&host, &alias).unwrap();
        let s = u.to_string();
        prop_assert_eq!(s.parse::<LogicalUrl>().unwrap(), u.clone());
        prop_assert_eq!(NodeUrl::parse(&s).unwrap(), NodeUrl::Logical(u.clone()));
        let t = parse_target(&u.path(), Some(u.host())).unwrap();
        prop_assert_eq!(t.logical(), Some(u));
    }

    #[test]
    fn physical_round_trip(home in arb_host(), host in arb_host(), alias in arb_alias()) {
        let p = PhysicalUrl::new(&home, LogicalUrl::new(&host, &alias).unwrap()).unwrap();
        let s = p.to_string();
        prop_assert_eq!(s.parse::<PhysicalUrl>().unwrap(), p.clone());
        let t = parse_target(&p.path(), None).unwrap();
        prop_assert_eq!(t.path, NodePath::Local(p.logical().clone()));
    }

    #[test]
    fn local_round_trip(a in any::<[u8; 4]>(), port in 1u16..) {
        let l = LocalNodeUrl::new(&format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]), port).unwrap();
        prop_assert_eq!(l.to_string().parse::<LocalNodeUrl>().unwrap(), l.clone());
        prop_assert_eq!(format!("{l}/").parse::<LocalNodeUrl>().unwrap(), l);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,80}", h in proptest::option::of(".{0,20}")) {
        let _ = NodeUrl::parse(&s);
        let _ = parse_target(&s, h.as_deref());
        let _ = LogicalUrl::new(&s, &s);
        if let Ok(n) = NodeUrl::parse(&s) {
            // Canonical output re-parses to the same value.
            prop_assert_eq!(NodeUrl::parse(&n.to_string()).unwrap(), n);
        }
    }

    #[test]
    fn fast_path_agrees_with_general_parser(
        s in "(http|HTTP)://[a-zA-Z0-9._-]{0,12}(:[0-9]{0,6})?/instmsg/aliases/[a-zA-Z0-9._~!$&'()*+,;=:@%/-]{0,12}"
    ) {
        if let Some(fast) = fast_node_url(&s) {
            prop_assert_eq!(Ok(fast), NodeUrlRef::parse_general(&s), "{}", s);
        }
        let raw = s.find("/instmsg/").map_or("", |i| &s[i..]);
        if let Some(alias) = raw.strip_prefix(ALIASES_PREFIX).and_then(fast_alias) {
            let PathKind::Aliases(general) = classify_path(raw, true).unwrap() else {
                panic!("general parser disagrees on {raw}")
            };
            prop_assert_eq!(alias, general);
        }
    }

    /// The one-pass URL, `Host` and target recognisers never disagree with the general
    /// parsers, on URL-like and on arbitrary input.
    #[test]
    fn fast_recognisers_agree_with_general_parsers(
        s in prop_oneof![
            "(http|HTTP|hTtP|ftp)://[a-zA-Z0-9._@\\[\\]:-]{0,14}(:[0-9]{0,7})?(/|/instmsg/aliases/[a-zA-Z0-9.%/:~-]{0,10}|/x)?[ ?#]?",
            ".{0,40}",
        ],
        host in prop_oneof![
            "[ \t]?[a-zA-Z0-9._\\[\\]-]{0,10}(:[0-9]{0,7})?[ \t\u{b}]?",
            ".{0,12}",
        ].prop_map(Some).boxed().prop_union(Just(None).boxed()),
        target in prop_oneof![
            Just("/".to_owned()),
            "/instmsg/aliases/[a-zA-Z0-9.%/:~-]{0,10}",
            "/.{0,20}",
            ".{0,20}",
        ],
    ) {
        if let Some(fast) = fast_node_url(&s) {
            prop_assert_eq!(Ok(fast), NodeUrlRef::parse_general(&s), "{}", s);
        }
        let host_bytes = host.as_deref().map(str::as_bytes);
        if let Some(h) = host_bytes.and_then(fast_host_header) {
            let general = std::str::from_utf8(host_bytes.unwrap_or_default()).unwrap();
            prop_assert_eq!(Ok(h), validate_authority(general.trim()), "{:?}", host);
        }
        if let Some(fast) = fast_target_ref(&target, host_bytes) {
            prop_assert_eq!(Ok(fast), parse_target_ref(&target, host.as_deref()), "{} {:?}", target, host);
        }
    }

    #[test]
    fn url_like_strings_never_panic(s in "(http|HTTP)://[a-z0-9.:\\[\\]@%/]{0,40}(/instmsg/(aliases|local)/[a-zA-Z0-9.%/:]{0,30})?") {
        if let Ok(n) = NodeUrl::parse(&s) {
            prop_assert_eq!(NodeUrl::parse(&n.to_string()).unwrap(), n);
        }
        let _ = parse_target(&s, None);
    }
}

proptest! {
    /// The run-wise percent-encoder writes exactly what encoding byte by byte writes.
    #[test]
    fn encoding_by_runs_equals_encoding_each_byte(s in "\\PC{0,24}") {
        let mut by_runs = String::new();
        syntax::write_encoded(&mut by_runs, &s).unwrap();
        let mut each = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                each.push(char::from(b));
            } else {
                each.push_str(&format!("%{b:02X}"));
            }
        }
        prop_assert_eq!(by_runs, each);
    }
}

proptest::proptest! {
    /// Another alias on a URL's host is the URL built from that host and alias.
    #[test]
    fn with_alias_is_new_on_the_same_host(
        host in "[a-zA-Z0-9.-]{1,12}(:[0-9]{1,5})?",
        first in "[a-zA-Z0-9._ -]{1,8}",
        alias in "[a-zA-Z0-9._ /%-]{0,10}",
    ) {
        if let Ok(url) = LogicalUrl::new(&host, &first) {
            proptest::prop_assert_eq!(url.with_alias(&alias), LogicalUrl::new(url.host(), &alias));
            proptest::prop_assert_eq!(url.with_alias(&alias), LogicalUrl::new(&host, &alias));
        }
    }
}
