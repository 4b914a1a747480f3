//! Property tests of the XML bodies: value → write → parse = value for every body type, and
//! arbitrary bytes or mutated valid bodies never panic.

#![allow(clippy::unwrap_used)]

use http::StatusCode;
use proptest::prelude::*;
use rvp_proto::xml::{
    ACL_NS, Ace, AcePrincipal, Contact, DAV_NS, Inheritance, LeasedValue, Message, MimeData,
    MultiStatus, Notification, PropFind, PropName, PropNotification, PropStat, PropValue, Property,
    PropertyUpdate, RVP_NS, Response, RvpAcl, StateContent, StateValue, StatusLine, Subscription,
    Subscriptions, XmlBody,
};
use rvp_proto::{CredentialKind, CredentialSet, PresenceState, Right, RightSet};

/// Pieces that stress escaping: markup characters, `]]>`, quotes, non-ASCII, CR/LF.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "Zz", "0", "<", ">", "&", "&amp;", "]]>", "]]", "]", "'", "\"", "é", "€", "😀",
        "日本", " ", "\r\n", "\n", "\t", "Ã¼", "x y", ";", "<r:x/>", "\r",
    ])
}

/// Any text (used untrimmed: MIME payloads).
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..12).prop_map(|v| v.concat())
}

/// Text without leading/trailing whitespace (values are trimmed on input).
fn text() -> impl Strategy<Value = String> {
    any_text().prop_map(|s| s.trim_matches([' ', '\t', '\r', '\n']).to_owned())
}

fn non_empty_text() -> impl Strategy<Value = String> {
    text().prop_filter("non-empty", |s| !s.is_empty())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn local_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn state() -> impl Strategy<Value = PresenceState> {
    prop_oneof![
        prop::sample::select(PresenceState::KNOWN.to_vec()),
        local_name().prop_map(|n| PresenceState::from_local_name(&n).unwrap()),
    ]
}

fn prop_name() -> impl Strategy<Value = PropName> {
    prop_oneof![
        Just(PropName::State),
        Just(PropName::DisplayName),
        Just(PropName::Email),
        Just(PropName::MobileState),
        Just(PropName::MobileDescription),
        Just(PropName::ViewId),
        (
            prop::sample::select(vec![DAV_NS, RVP_NS, ACL_NS, "", "urn:x-test:it's&<"]),
            local_name()
        )
            .prop_map(|(ns, l)| PropName::new(ns, &l)),
    ]
}

fn state_value() -> impl Strategy<Value = StateValue> {
    let content = prop_oneof![
        state().prop_map(StateContent::Bare),
        (state(), state(), prop::option::of(any::<u32>())).prop_map(
            |(value, default_value, timeout)| {
                StateContent::Leased(LeasedValue {
                    value,
                    default_value,
                    timeout,
                })
            }
        ),
    ];
    (content, prop::option::of(text()))
        .prop_map(|(content, view_id)| StateValue { content, view_id })
}

/// Raw content with a child element (so that known text properties keep it raw).
fn raw_with_element() -> impl Strategy<Value = String> {
    (text(), local_name(), text())
        .prop_map(|(a, l, b)| format!("{}<r:{l}>{}</r:{l}>", escape(&a), escape(&b)))
}

fn property() -> impl Strategy<Value = Property> {
    prop_name().prop_flat_map(|name| {
        let value = match &name {
            PropName::State => prop_oneof![
                Just(PropValue::Empty),
                state_value().prop_map(PropValue::State)
            ]
            .boxed(),
            PropName::Other { .. } => prop_oneof![
                Just(PropValue::Empty),
                any_text().prop_map(|t| PropValue::Raw(escape(&t))),
                raw_with_element().prop_map(PropValue::Raw),
            ]
            .boxed(),
            _ => prop_oneof![
                Just(PropValue::Empty),
                text().prop_map(PropValue::Text),
                raw_with_element().prop_map(PropValue::Raw),
            ]
            .boxed(),
        };
        value.prop_map(move |value| Property {
            name: name.clone(),
            value,
        })
    })
}

fn propfind() -> impl Strategy<Value = PropFind> {
    prop_oneof![
        prop::collection::vec(prop_name(), 0..5).prop_map(PropFind::Prop),
        Just(PropFind::AllProp),
        Just(PropFind::PropName),
    ]
}

fn property_update() -> impl Strategy<Value = PropertyUpdate> {
    (
        prop::collection::vec(property(), 0..4),
        prop::collection::vec(prop_name(), 0..3),
    )
        .prop_map(|(set, remove)| PropertyUpdate { set, remove })
}

fn status_line() -> impl Strategy<Value = StatusLine> {
    (100u16..1000, text()).prop_map(|(c, reason)| StatusLine {
        code: StatusCode::from_u16(c).unwrap(),
        reason,
    })
}

fn multistatus() -> impl Strategy<Value = MultiStatus> {
    let propstat = (prop::collection::vec(property(), 0..4), status_line())
        .prop_map(|(props, status)| PropStat { props, status });
    let response = (text(), prop::collection::vec(propstat, 0..3))
        .prop_map(|(href, propstats)| Response { href, propstats });
    prop::collection::vec(response, 0..3).prop_map(|responses| MultiStatus { responses })
}

fn contact() -> impl Strategy<Value = Contact> {
    (text(), prop::option::of(text())).prop_map(|(href, description)| Contact { href, description })
}

fn notification() -> impl Strategy<Value = Notification> {
    prop_oneof![
        (
            contact(),
            prop::collection::vec(contact(), 0..3),
            any_text()
        )
            .prop_map(|(from, to, t)| {
                Notification::Message(Message {
                    from,
                    to,
                    mime_data: MimeData::new(t),
                })
            }),
        (contact(), contact(), property_update()).prop_map(|(from, to, update)| {
            Notification::PropNotification(PropNotification { from, to, update })
        }),
        any_text().prop_map(|t| Notification::Application(escape(&t))),
        (any_text(), local_name(), any_text()).prop_map(|(a, l, b)| Notification::Application(
            format!("{}<{l} k='v'>{}</{l}>", escape(&a), escape(&b))
        )),
    ]
}

fn acl() -> impl Strategy<Value = RvpAcl> {
    let rights = any::<u16>().prop_map(|bits| {
        RightSet::of(
            Right::ALL_RIGHTS
                .into_iter()
                .enumerate()
                .filter(move |(i, _)| bits & (1 << i) != 0)
                .map(|(_, r)| r),
        )
    });
    let credentials = prop_oneof![
        Just(CredentialSet::ANY),
        (1u8..16).prop_map(|bits| {
            CredentialSet::of(
                CredentialKind::ALL_KINDS
                    .into_iter()
                    .enumerate()
                    .filter(move |(i, _)| bits & (1 << i) != 0)
                    .map(|(_, k)| k),
            )
        }),
    ];
    let principal = prop_oneof![
        non_empty_text().prop_map(AcePrincipal::Url),
        Just(AcePrincipal::AllPrincipals)
    ];
    let ace = (principal, credentials, rights.clone(), rights).prop_map(
        |(principal, credentials, grant, deny)| Ace {
            principal,
            credentials,
            grant,
            deny,
        },
    );
    let inheritance = prop::option::of(prop_oneof![
        Just(Inheritance::None),
        text()
            .prop_filter("not none", |t| t != "none")
            .prop_map(Inheritance::Other),
    ]);
    (inheritance, prop::collection::vec(ace, 0..4))
        .prop_map(|(inheritance, aces)| RvpAcl { inheritance, aces })
}

fn subscriptions() -> impl Strategy<Value = Subscriptions> {
    let sub = (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(id, href, principal, timeout)| Subscription {
            id,
            href,
            principal,
            timeout,
        });
    prop::collection::vec(sub, 0..4).prop_map(|subscriptions| Subscriptions { subscriptions })
}

fn check<T: XmlBody + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let bytes = v.to_bytes();
    let back = T::parse(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(&back, v);
    // Writing is deterministic and stable.
    prop_assert_eq!(back.to_bytes(), bytes);
    Ok(())
}

fn parse_all(b: &[u8]) {
    let _ = PropFind::parse(b);
    let _ = PropertyUpdate::parse(b);
    let _ = MultiStatus::parse(b);
    let _ = Notification::parse(b);
    let _ = RvpAcl::parse(b);
    let _ = Subscriptions::parse(b);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 0usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (
            any::<usize>(),
            prop::sample::select(vec![
                "<",
                ">",
                "&",
                "/",
                "<!DOCTYPE x>",
                "<![CDATA[",
                "]]>",
                "&#0;",
                "&#xD800;",
                "xmlns:r='x'",
                "\u{0}",
                "<x>",
                "</x>"
            ])
        )
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
    ]
}

fn mutate(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        match *m {
            Mutation::Flip(i, b) => {
                let i = i % bytes.len();
                bytes[i] ^= b;
            }
            Mutation::Delete(i, n) => {
                let i = i % bytes.len();
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Insert(i, s) => {
                let i = i % (bytes.len() + 1);
                bytes.splice(i..i, s.bytes());
            }
        }
    }
    bytes
}

fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        propfind().prop_map(|v| v.to_bytes()),
        property_update().prop_map(|v| v.to_bytes()),
        multistatus().prop_map(|v| v.to_bytes()),
        notification().prop_map(|v| v.to_bytes()),
        acl().prop_map(|v| v.to_bytes()),
        subscriptions().prop_map(|v| v.to_bytes()),
    ]
}

proptest! {
    #[test]
    fn propfind_round_trips(v in propfind()) { check(&v)?; }

    #[test]
    fn property_update_round_trips(v in property_update()) { check(&v)?; }

    #[test]
    fn multistatus_round_trips(v in multistatus()) { check(&v)?; }

    #[test]
    fn notification_round_trips(v in notification()) { check(&v)?; }

    #[test]
    fn acl_round_trips(v in acl()) { check(&v)?; }

    #[test]
    fn subscriptions_round_trip(v in subscriptions()) { check(&v)?; }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&b);
    }

    #[test]
    fn xmlish_bytes_never_panic(parts in prop::collection::vec(prop::sample::select(vec![
        "<", ">", "/", "d:", "r:", "a:", "prop", "state", "notification", "message", "mime-data", "rvpacl", "acl",
        "ace", "principal", " xmlns:d='DAV:'", " xmlns:r='http://schemas.microsoft.com/rvp/'",
        " xmlns:a='http://schemas.microsoft.com/rvp/acl/'", "<![CDATA[", "]]>", "&amp;", "&#65;", "x", " ",
    ]), 0..64)) {
        parse_all(parts.concat().as_bytes());
    }

    #[test]
    fn mutated_bodies_never_panic(body in any_body(), muts in prop::collection::vec(mutation(), 1..6)) {
        parse_all(&mutate(body, &muts));
    }
}
