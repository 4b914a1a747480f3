//! The front end's output lines, typed.
//!
//! Every line is `<name>[ <field>]*[ <text>]`. The number of fields is fixed per event name;
//! fields never contain a space (the front end writes `\x20` for one, `-` for an empty field);
//! the optional text runs to the end of the line. Both are escaped the same way: `\\`, `\n`,
//! `\r`, `\t` and `\xNN` (one byte); valid UTF-8, non-ASCII included, is written as is.

use rvp_proto::state::PresenceState;

/// The most bytes [`unescape`] accepts, and so the longest line [`Event::parse`] reads.
/// librvp messages are far shorter; anything longer is a broken front end.
pub const MAX_LINE_LEN: usize = 1 << 20;

/// One event reported by the front end (one output line).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `ready <user> <config-dir>`: libpurple is up and the account exists; sign-on follows
    /// unless the front end was started with `--no-login`.
    Ready {
        /// The sign-in name, `user@domain`.
        user: String,
        /// The libpurple configuration folder of this run.
        config_dir: String,
    },
    /// `signing-on`: the connection attempt has started.
    SigningOn,
    /// `progress <step>/<count> <text>`: a sign-on step reported by librvp.
    Progress {
        /// The step reached.
        step: u32,
        /// The number of steps librvp announces.
        count: u32,
        /// librvp's description, e.g. `Subscribed`.
        text: String,
    },
    /// `signed-on`: the account is connected.
    SignedOn,
    /// `signing-off`: the connection is being closed (librvp sends its logout requests now).
    SigningOff,
    /// `signed-off`: the connection is closed. The front end then exits.
    SignedOff,
    /// `connection-error <code> <text>`: libpurple's `PurpleConnectionError` code and text.
    ConnectionError {
        /// The `PurpleConnectionError` value (0 network error, 2 authentication failed, ...).
        code: i32,
        /// The description librvp gave, e.g. `Auth failed`.
        text: String,
    },
    /// `account-status <state>`: the account's own status changed.
    AccountStatus {
        /// The new state (librvp status ids are RVP state names).
        state: PresenceState,
    },
    /// `buddy-status <who> <state>`: a buddy's status changed.
    BuddyStatus {
        /// The buddy's sign-in name.
        who: String,
        /// The new state.
        state: PresenceState,
    },
    /// `buddy-signed-on <who>`: a buddy came online.
    BuddySignedOn {
        /// The buddy's sign-in name.
        who: String,
    },
    /// `buddy-signed-off <who>`: a buddy went offline.
    BuddySignedOff {
        /// The buddy's sign-in name.
        who: String,
    },
    /// `im <who> <text>`: an instant message arrived. librvp wraps the text in HTML (a
    /// `<FONT>` element); [`html_to_text`] recovers the plain text.
    Im {
        /// The sender's sign-in name.
        who: String,
        /// The message as libpurple delivered it (HTML).
        text: String,
    },
    /// `im-sent <who> <text>`: an instant message was handed to librvp for sending.
    ImSent {
        /// The recipient's sign-in name.
        who: String,
        /// The message as sent.
        text: String,
    },
    /// `typing <who>`: the buddy is typing.
    Typing {
        /// The buddy's sign-in name.
        who: String,
    },
    /// `typed <who>`: the buddy typed and paused.
    Typed {
        /// The buddy's sign-in name.
        who: String,
    },
    /// `typing-stopped <who>`: the buddy stopped typing.
    TypingStopped {
        /// The buddy's sign-in name.
        who: String,
    },
    /// `send-failed <who> <text>`: an error line in the conversation with `who`; librvp writes
    /// "The following message could not be delivered to all recipients: ..." when the server
    /// answered an IM with 404 or 412 (it is silent on 403 and 500).
    SendFailed {
        /// The conversation partner.
        who: String,
        /// The error text (HTML).
        text: String,
    },
    /// `conv-system <who> <text>`: a system line in the conversation with `who`.
    ConvSystem {
        /// The conversation partner.
        who: String,
        /// The text (HTML).
        text: String,
    },
    /// `notice <text>`: a connection notice.
    Notice {
        /// The text.
        text: String,
    },
    /// `notify <kind> <text>`: a notification dialog (kind `error`, `warning`, `info`,
    /// `formatted` or `uri`); title, primary and secondary texts joined by ` | `.
    Notify {
        /// The dialog kind.
        kind: String,
        /// The joined texts.
        text: String,
    },
    /// `userinfo <who> <text>`: user information, entries joined by ` | `.
    UserInfo {
        /// Whose information.
        who: String,
        /// The entries.
        text: String,
    },
    /// `request <kind> <who> <text>`: a libpurple request the front end answered on its own
    /// (`input`, `choice`, `action`, `fields`: default answer; `file`: refused).
    Request {
        /// The request kind.
        kind: String,
        /// Whom it concerns, if anyone (`-` otherwise).
        who: String,
        /// Title, primary and secondary texts joined by ` | `.
        text: String,
    },
    /// `auth-request <who> <text>`: someone asked to add us; the front end accepted.
    AuthRequest {
        /// Who asked.
        who: String,
        /// Their message.
        text: String,
    },
    /// `request-add <who> <text>`: someone added us and suggests adding them back.
    RequestAdd {
        /// Who added us.
        who: String,
        /// Their message.
        text: String,
    },
    /// `added-by <who> <text>`: someone added us.
    AddedBy {
        /// Who added us.
        who: String,
        /// Their message.
        text: String,
    },
    /// `permit-added <who>`: `who` joined the account's permit list.
    PermitAdded {
        /// The user.
        who: String,
    },
    /// `permit-removed <who>`: `who` left the permit list.
    PermitRemoved {
        /// The user.
        who: String,
    },
    /// `deny-added <who>`: `who` joined the deny list.
    DenyAdded {
        /// The user.
        who: String,
    },
    /// `deny-removed <who>`: `who` left the deny list.
    DenyRemoved {
        /// The user.
        who: String,
    },
    /// `ok <command>`: a command was carried out (its effects arrive as further events).
    Ok {
        /// The command's verb.
        command: String,
    },
    /// `error <command> <text>`: a command was refused.
    Error {
        /// The command's verb.
        command: String,
        /// Why.
        text: String,
    },
    /// `pong [<text>]`: the answer to `ping [<text>]`.
    Pong {
        /// The text that came with the ping (empty if none).
        text: String,
    },
    /// `startup-error <text>`: the front end could not start; it exits with status 2.
    StartupError {
        /// What went wrong.
        text: String,
    },
    /// `exit <reason>`: the front end's last line (`logout`, `signed-off`, `quit`, or `timeout`
    /// when the exit bound after a sign-off expired).
    Exit {
        /// The reason.
        reason: String,
    },
    /// A line with an event name this version does not know (kept whole).
    Other {
        /// The line, unescaped as text.
        line: String,
    },
}

/// A line the parser could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A known event lacked a field.
    #[error("event `{event}` lacks its field `{field}`")]
    MissingField {
        /// The event name.
        event: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A field held a value of the wrong form.
    #[error("event `{event}`: field `{field}` is not valid: {value:?}")]
    BadField {
        /// The event name.
        event: &'static str,
        /// The field.
        field: &'static str,
        /// Its raw value.
        value: String,
    },
    /// A backslash escape was malformed (`\q`, `\x4`, a trailing `\`).
    #[error("bad escape at byte {offset}")]
    BadEscape {
        /// Byte offset of the backslash in the escaped string.
        offset: usize,
    },
    /// The unescaped bytes were not UTF-8.
    #[error("unescaped text is not UTF-8: {0}")]
    NotUtf8(#[from] std::string::FromUtf8Error),
    /// The line was longer than [`MAX_LINE_LEN`].
    #[error("line of {len} bytes exceeds the limit of {MAX_LINE_LEN}")]
    TooLong {
        /// The line's length.
        len: usize,
    },
}

/// Undoes the front end's escaping (`\\`, `\n`, `\r`, `\t`, `\xNN`).
///
/// ```
/// assert_eq!(rvp_interop::event::unescape(r"a\x20b\\n\n€").unwrap(), "a b\\n\n€");
/// ```
pub fn unescape(s: &str) -> Result<String, ParseError> {
    if s.len() > MAX_LINE_LEN {
        return Err(ParseError::TooLong { len: s.len() });
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let bad = ParseError::BadEscape { offset: i };
        match bytes.get(i + 1) {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'x') => {
                let hi = bytes
                    .get(i + 2)
                    .and_then(|c| hex_value(*c))
                    .ok_or(bad.clone())?;
                let lo = bytes.get(i + 3).and_then(|c| hex_value(*c)).ok_or(bad)?;
                out.push(hi << 4 | lo);
                i += 4;
                continue;
            }
            _ => return Err(bad),
        }
        i += 2;
    }
    Ok(String::from_utf8(out)?)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Escapes text for a command argument or text: backslash, control characters (and, for a
/// field, the space) become escapes the front end undoes. The result holds no line break.
///
/// ```
/// assert_eq!(rvp_interop::event::escape("a\nb\\ ü", false), r"a\nb\\ ü");
/// assert_eq!(rvp_interop::event::escape("a b", true), r"a\x20b");
/// ```
pub fn escape(s: &str, field: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' if field => out.push_str("\\x20"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Recovers the plain text of a message libpurple delivered as HTML: drops tags, decodes
/// the entities `&lt; &gt; &amp; &quot; &apos; &#NN; &#xNN;` and turns `<br>` into a line break.
/// An `&` that starts no known entity is kept as is (librvp passes a bare `&` through).
///
/// ```
/// let html = "<FONT FACE='MS% Shell% Dlg' COLOR='#000000'>a &lt;b&gt; &amp; ü<br>c</FONT>";
/// assert_eq!(rvp_interop::event::html_to_text(html), "a <b> & ü\nc");
/// ```
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let tag = rest[1..end].trim().to_ascii_lowercase();
                if tag == "br" || tag == "br/" || tag == "br /" {
                    out.push('\n');
                }
                rest = &rest[end + 1..];
                continue;
            }
        } else if c == '&'
            && let Some((decoded, len)) = decode_entity(rest)
        {
            out.push(decoded);
            rest = &rest[len..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Decodes one entity at the start of `s` (which starts with `&`): the character and the
/// entity's length in bytes.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let end = s.get(..12).unwrap_or(s).find(';')?;
    let name = &s[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

/// A cursor over one line: fields, then the text.
struct Fields<'a> {
    event: &'static str,
    rest: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn field(&mut self, name: &'static str) -> Result<String, ParseError> {
        let rest = self.rest.ok_or(ParseError::MissingField {
            event: self.event,
            field: name,
        })?;
        let (raw, tail) = match rest.split_once(' ') {
            Some((raw, tail)) => (raw, Some(tail)),
            None => (rest, None),
        };
        self.rest = tail;
        if raw.is_empty() {
            return Err(ParseError::MissingField {
                event: self.event,
                field: name,
            });
        }
        if raw == "-" {
            return Ok(String::new());
        }
        unescape(raw)
    }

    fn state(&mut self, name: &'static str) -> Result<PresenceState, ParseError> {
        let raw = self.field(name)?;
        PresenceState::from_local_name(&raw).ok_or(ParseError::BadField {
            event: self.event,
            field: name,
            value: raw,
        })
    }

    fn text(&mut self) -> Result<String, ParseError> {
        match self.rest.take() {
            Some(rest) => unescape(rest),
            None => Ok(String::new()),
        }
    }
}

impl Event {
    /// Whether this event reports `who` online: signed on, or its status is `online`.
    ///
    /// ```
    /// use rvp_interop::event::Event;
    /// assert!(Event::parse("buddy-signed-on bob@localhost").unwrap().is_online("bob@localhost"));
    /// assert!(!Event::parse("buddy-signed-on bob@localhost").unwrap().is_online("alice@localhost"));
    /// ```
    pub fn is_online(&self, who: &str) -> bool {
        match self {
            Event::BuddySignedOn { who: w } => w == who,
            Event::BuddyStatus { who: w, state } => w == who && *state == PresenceState::Online,
            _ => false,
        }
    }

    /// Whether this event reports `who` offline: signed off, or its status is `offline`.
    pub fn is_offline(&self, who: &str) -> bool {
        match self {
            Event::BuddySignedOff { who: w } => w == who,
            Event::BuddyStatus { who: w, state } => w == who && *state == PresenceState::Offline,
            _ => false,
        }
    }

    /// Whether this event is `who`'s status changing to `state`.
    pub fn is_status(&self, who: &str, state: &PresenceState) -> bool {
        matches!(self, Event::BuddyStatus { who: w, state: s } if w == who && s == state)
    }

    /// Parses one output line (without its line break; a trailing `\r` is ignored).
    ///
    /// ```
    /// use rvp_interop::event::Event;
    /// use rvp_proto::state::PresenceState;
    /// assert_eq!(
    ///     Event::parse("buddy-status bob@localhost busy").unwrap(),
    ///     Event::BuddyStatus { who: "bob@localhost".into(), state: PresenceState::Busy }
    /// );
    /// ```
    pub fn parse(line: &str) -> Result<Event, ParseError> {
        if line.len() > MAX_LINE_LEN {
            return Err(ParseError::TooLong { len: line.len() });
        }
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (name, rest) = match line.split_once(' ') {
            Some((name, rest)) => (name, Some(rest)),
            None => (line, None),
        };
        macro_rules! f {
            ($event:literal) => {
                Fields {
                    event: $event,
                    rest,
                }
            };
        }
        Ok(match name {
            "ready" => {
                let mut f = f!("ready");
                Event::Ready {
                    user: f.field("user")?,
                    config_dir: f.field("config-dir")?,
                }
            }
            "signing-on" => Event::SigningOn,
            "signed-on" => Event::SignedOn,
            "signing-off" => Event::SigningOff,
            "signed-off" => Event::SignedOff,
            "progress" => {
                let mut f = f!("progress");
                let raw = f.field("step")?;
                let bad = || ParseError::BadField {
                    event: "progress",
                    field: "step",
                    value: raw.clone(),
                };
                let (step, count) = raw.split_once('/').ok_or_else(bad)?;
                Event::Progress {
                    step: step.parse().map_err(|_| bad())?,
                    count: count.parse().map_err(|_| bad())?,
                    text: f.text()?,
                }
            }
            "connection-error" => {
                let mut f = f!("connection-error");
                let raw = f.field("code")?;
                Event::ConnectionError {
                    code: raw.parse().map_err(|_| ParseError::BadField {
                        event: "connection-error",
                        field: "code",
                        value: raw.clone(),
                    })?,
                    text: f.text()?,
                }
            }
            "account-status" => Event::AccountStatus {
                state: f!("account-status").state("state")?,
            },
            "buddy-status" => {
                let mut f = f!("buddy-status");
                Event::BuddyStatus {
                    who: f.field("who")?,
                    state: f.state("state")?,
                }
            }
            "buddy-signed-on" => Event::BuddySignedOn {
                who: f!("buddy-signed-on").field("who")?,
            },
            "buddy-signed-off" => Event::BuddySignedOff {
                who: f!("buddy-signed-off").field("who")?,
            },
            "im" => {
                let mut f = f!("im");
                Event::Im {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "im-sent" => {
                let mut f = f!("im-sent");
                Event::ImSent {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "typing" => Event::Typing {
                who: f!("typing").field("who")?,
            },
            "typed" => Event::Typed {
                who: f!("typed").field("who")?,
            },
            "typing-stopped" => Event::TypingStopped {
                who: f!("typing-stopped").field("who")?,
            },
            "send-failed" => {
                let mut f = f!("send-failed");
                Event::SendFailed {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "conv-system" => {
                let mut f = f!("conv-system");
                Event::ConvSystem {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "notice" => Event::Notice {
                text: f!("notice").text()?,
            },
            "notify" => {
                let mut f = f!("notify");
                Event::Notify {
                    kind: f.field("kind")?,
                    text: f.text()?,
                }
            }
            "userinfo" => {
                let mut f = f!("userinfo");
                Event::UserInfo {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "request" => {
                let mut f = f!("request");
                Event::Request {
                    kind: f.field("kind")?,
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "auth-request" => {
                let mut f = f!("auth-request");
                Event::AuthRequest {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "request-add" => {
                let mut f = f!("request-add");
                Event::RequestAdd {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "added-by" => {
                let mut f = f!("added-by");
                Event::AddedBy {
                    who: f.field("who")?,
                    text: f.text()?,
                }
            }
            "permit-added" => Event::PermitAdded {
                who: f!("permit-added").field("who")?,
            },
            "permit-removed" => Event::PermitRemoved {
                who: f!("permit-removed").field("who")?,
            },
            "deny-added" => Event::DenyAdded {
                who: f!("deny-added").field("who")?,
            },
            "deny-removed" => Event::DenyRemoved {
                who: f!("deny-removed").field("who")?,
            },
            "ok" => Event::Ok {
                command: f!("ok").field("command")?,
            },
            "error" => {
                let mut f = f!("error");
                Event::Error {
                    command: f.field("command")?,
                    text: f.text()?,
                }
            }
            "pong" => Event::Pong {
                text: f!("pong").text()?,
            },
            "startup-error" => Event::StartupError {
                text: f!("startup-error").text()?,
            },
            "exit" => Event::Exit {
                reason: f!("exit").field("reason")?,
            },
            _ => Event::Other {
                line: unescape(line)?,
            },
        })
    }

    /// The user the event concerns (buddy, sender, conversation partner), if any.
    pub fn who(&self) -> Option<&str> {
        match self {
            Event::BuddyStatus { who, .. }
            | Event::BuddySignedOn { who }
            | Event::BuddySignedOff { who }
            | Event::Im { who, .. }
            | Event::ImSent { who, .. }
            | Event::Typing { who }
            | Event::Typed { who }
            | Event::TypingStopped { who }
            | Event::SendFailed { who, .. }
            | Event::ConvSystem { who, .. }
            | Event::UserInfo { who, .. }
            | Event::AuthRequest { who, .. }
            | Event::RequestAdd { who, .. }
            | Event::AddedBy { who, .. }
            | Event::PermitAdded { who }
            | Event::PermitRemoved { who }
            | Event::DenyAdded { who }
            | Event::DenyRemoved { who } => Some(who),
            Event::Request { who, .. } if !who.is_empty() => Some(who),
            _ => None,
        }
    }
}

/// A predicate for [`PurpleClient::expect`](crate::PurpleClient): `who` came online.
pub fn online(who: &'static str) -> impl Fn(&Event) -> bool {
    move |e| e.is_online(who)
}

/// A predicate for [`PurpleClient::expect`](crate::PurpleClient): `who` went offline.
pub fn offline(who: &'static str) -> impl Fn(&Event) -> bool {
    move |e| e.is_offline(who)
}

/// A predicate for [`PurpleClient::expect`](crate::PurpleClient): `who`'s status is now
/// `state`.
pub fn status(who: &'static str, state: PresenceState) -> impl Fn(&Event) -> bool {
    move |e| e.is_status(who, &state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(line: &str) -> Event {
        Event::parse(line).unwrap()
    }

    #[test]
    fn parses_session_lines() {
        assert_eq!(
            p("ready alice@localhost /tmp/rvp-purple-RWKDZ3"),
            Event::Ready {
                user: "alice@localhost".into(),
                config_dir: "/tmp/rvp-purple-RWKDZ3".into()
            }
        );
        assert_eq!(p("signing-on"), Event::SigningOn);
        assert_eq!(p("signed-on\r"), Event::SignedOn);
        assert_eq!(p("signing-off"), Event::SigningOff);
        assert_eq!(p("signed-off\n"), Event::SignedOff);
        assert_eq!(
            p("progress 1/5 Subscribed"),
            Event::Progress {
                step: 1,
                count: 5,
                text: "Subscribed".into()
            }
        );
        assert_eq!(
            p("connection-error 2 Auth failed"),
            Event::ConnectionError {
                code: 2,
                text: "Auth failed".into()
            }
        );
        assert_eq!(
            p("exit logout"),
            Event::Exit {
                reason: "logout".into()
            }
        );
        assert_eq!(
            p("startup-error unknown preference: /x"),
            Event::StartupError {
                text: "unknown preference: /x".into()
            }
        );
    }

    #[test]
    fn parses_presence_and_messages() {
        assert_eq!(
            p("account-status back-soon"),
            Event::AccountStatus {
                state: PresenceState::BackSoon
            }
        );
        assert_eq!(
            p("buddy-status bob@localhost on-phone"),
            Event::BuddyStatus {
                who: "bob@localhost".into(),
                state: PresenceState::OnPhone
            }
        );
        assert_eq!(
            p("buddy-signed-off bob@localhost"),
            Event::BuddySignedOff {
                who: "bob@localhost".into()
            }
        );
        // A line captured from librvp, with non-ASCII text and an escaped line break.
        let ev = p(
            "im alice@localhost <FONT FACE='MS% Shell% Dlg' COLOR='#000000'>Hello Bob <b>bold</b> & ünïcødé €\\nbye</FONT>",
        );
        let Event::Im { who, text } = &ev else {
            panic!("not an im: {ev:?}")
        };
        assert_eq!(who, "alice@localhost");
        assert_eq!(html_to_text(text), "Hello Bob bold & ünïcødé €\nbye");
        assert_eq!(
            p("typing-stopped bob@localhost"),
            Event::TypingStopped {
                who: "bob@localhost".into()
            }
        );
        assert_eq!(
            p("send-failed alice@localhost The following message could not be delivered to all recipients:\\n<span color='red'>are you there?</span>"),
            Event::SendFailed {
                who: "alice@localhost".into(),
                text: "The following message could not be delivered to all recipients:\n<span color='red'>are you there?</span>".into()
            }
        );
        assert_eq!(
            p("request fields - Enter password for alice@localhost (RVP)"),
            Event::Request {
                kind: "fields".into(),
                who: String::new(),
                text: "Enter password for alice@localhost (RVP)".into()
            }
        );
        assert_eq!(
            p("pong"),
            Event::Pong {
                text: String::new()
            }
        );
        assert_eq!(p("pong a b"), Event::Pong { text: "a b".into() });
        assert_eq!(
            p("error status unknown status id"),
            Event::Error {
                command: "status".into(),
                text: "unknown status id".into()
            }
        );
        assert_eq!(p("deny-added bob@localhost").who(), Some("bob@localhost"));
    }

    #[test]
    fn unknown_events_are_kept() {
        assert_eq!(
            p("brand-new x y"),
            Event::Other {
                line: "brand-new x y".into()
            }
        );
    }

    #[test]
    fn rejects_broken_lines() {
        assert_eq!(
            Event::parse("buddy-status bob@localhost"),
            Err(ParseError::MissingField {
                event: "buddy-status",
                field: "state"
            })
        );
        assert_eq!(
            Event::parse("im"),
            Err(ParseError::MissingField {
                event: "im",
                field: "who"
            })
        );
        assert!(matches!(
            Event::parse("progress x/5 y"),
            Err(ParseError::BadField { field: "step", .. })
        ));
        assert!(matches!(
            Event::parse("connection-error boom text"),
            Err(ParseError::BadField { field: "code", .. })
        ));
        assert_eq!(
            Event::parse("notice a\\qb"),
            Err(ParseError::BadEscape { offset: 1 })
        );
        assert_eq!(
            Event::parse("notice a\\x4"),
            Err(ParseError::BadEscape { offset: 1 })
        );
        assert_eq!(
            Event::parse("notice trailing\\"),
            Err(ParseError::BadEscape { offset: 8 })
        );
        assert!(matches!(
            Event::parse("notice \\xff"),
            Err(ParseError::NotUtf8(_))
        ));
    }

    #[test]
    fn line_length_is_limited() {
        let long = format!("notice {}", "a".repeat(MAX_LINE_LEN));
        assert_eq!(
            Event::parse(&long),
            Err(ParseError::TooLong { len: long.len() })
        );
        let fits = format!("notice {}", "a".repeat(MAX_LINE_LEN - 7));
        assert!(Event::parse(&fits).is_ok());
    }

    #[test]
    fn html_entities_and_tags() {
        assert_eq!(html_to_text("&#65;&#x42;&quot;&apos;"), "AB\"'");
        assert_eq!(html_to_text("a & b &unknown; <i>c"), "a & b &unknown; c");
        assert_eq!(html_to_text("x<br/>y<BR>z"), "x\ny\nz");
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
    }

    proptest! {
        #[test]
        fn escape_unescape_roundtrip(s in any::<String>(), field in any::<bool>()) {
            let e = escape(&s, field);
            prop_assert!(!e.contains('\n') && !e.contains('\r'));
            if field {
                prop_assert!(!e.contains(' '));
            }
            prop_assert_eq!(unescape(&e).unwrap(), s);
        }

        #[test]
        fn im_text_survives_a_line(who in "[a-z]{1,8}@[a-z]{1,8}", text in any::<String>()) {
            let line = format!("im {who} {}", escape(&text, false));
            prop_assert_eq!(Event::parse(&line).unwrap(), Event::Im { who, text });
        }

        #[test]
        fn arbitrary_lines_never_panic(line in any::<String>()) {
            let _ = Event::parse(&line);
            let _ = html_to_text(&line);
        }

        #[test]
        fn arbitrary_event_shaped_lines_never_panic(
            name in prop::sample::select(vec![
                "ready", "progress", "connection-error", "account-status", "buddy-status",
                "im", "request", "exit", "pong", "error",
            ]),
            rest in "[ -~\\\\]{0,40}",
        ) {
            let _ = Event::parse(&format!("{name} {rest}"));
        }
    }
}
