//! `r:notification`, the body of NOTIFY: instant messages, property-change notifications and
//! application notifications (PROTOCOL.md §2.6, §6.1).

use std::hash::{Hash, Hasher};
use std::ops::Range;

use super::propertyupdate::PropertyUpdate;
use super::read::{Elem, Ns, Reader, parse_body, parse_mode};
use super::{ParseMode, XmlBody, XmlError, XmlLimits, write};

/// `r:contact`: who sends or receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Contact {
    /// `d:href`: the principal's URL.
    pub href: String,
    /// `r:description`: display name; `None` when absent, `Some("")` for
    /// `<r:description/>`.
    pub description: Option<String>,
}

impl Contact {
    /// A contact with a display name.
    pub fn new(href: impl Into<String>, description: impl Into<String>) -> Contact {
        Contact {
            href: href.into(),
            description: Some(description.into()),
        }
    }

    fn read(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Contact, XmlError> {
        let mut href = None;
        let mut description = None;
        while let Some(c) = r.next_child(e, "r:contact")? {
            match (c.ns, c.local) {
                (Ns::Dav, "href") => {
                    if href.replace(r.text(&c, "d:href")?).is_some() {
                        return Err(XmlError::Duplicate {
                            parent: "r:contact",
                            child: "d:href",
                        });
                    }
                }
                (Ns::Rvp, "description") => {
                    if description.replace(r.text(&c, "r:description")?).is_some() {
                        return Err(XmlError::Duplicate {
                            parent: "r:contact",
                            child: "r:description",
                        });
                    }
                }
                _ => r.skip(&c)?,
            }
        }
        Ok(Contact {
            href: href.ok_or(XmlError::Missing {
                parent: "r:contact",
                child: "d:href",
            })?,
            description,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::start(out, "r:contact");
        write::text_element(out, "d:href", &self.href);
        match self.description.as_deref() {
            None => {}
            Some("") => write::empty(out, "r:description"),
            Some(d) => write::text_element(out, "r:description", d),
        }
        write::end(out, "r:contact");
    }
}

/// `r:mime-data`: the MIME payload of a message (PROTOCOL.md §6.2), as text, plus where its
/// raw source sits in the parsed body so that a server can relay it untouched.
///
/// Equality and hashing compare [`MimeData::text`] only.
#[derive(Debug, Clone, Eq)]
pub struct MimeData {
    /// The payload: the concatenated text and CDATA children, line ends kept as sent.
    pub text: String,
    source: Option<Range<usize>>,
}

impl MimeData {
    /// Payload text to be written (as CDATA, `]]>` split).
    pub fn new(text: impl Into<String>) -> MimeData {
        MimeData {
            text: text.into(),
            source: None,
        }
    }

    /// The byte range of the element's raw content (between `<r:mime-data>` and
    /// `</r:mime-data>`) in the body it was parsed from; `None` for a built value.
    pub fn source_range(&self) -> Option<Range<usize>> {
        self.source.clone()
    }
}

impl PartialEq for MimeData {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Hash for MimeData {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// `r:message`: an instant message or control message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// `r:notification-from`.
    pub from: Contact,
    /// Every `r:notification-to` (zero or more).
    pub to: Vec<Contact>,
    /// `r:msgbody/r:mime-data`.
    pub mime_data: MimeData,
}

/// `r:propnotification`: a property change sent to a watcher.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropNotification {
    /// `r:notification-from`: the node whose properties changed.
    pub from: Contact,
    /// `r:notification-to`: the watcher.
    pub to: Contact,
    /// `d:propertyupdate`: the new values.
    pub update: PropertyUpdate,
}

/// An `r:notification` body.
///
/// ```
/// use rvp_proto::xml::{Contact, Message, MimeData, Notification, XmlBody};
///
/// let n = Notification::Message(Message {
///     from: Contact::new("http://im.example.com/instmsg/aliases/stevem", "Steve"),
///     to: vec![Contact::new("http://im.example.com/instmsg/aliases/bruceb", "bruce")],
///     mime_data: MimeData::new("MIME-Version: 1.0\r\n\r\nsee <this> ]]> & that"),
/// });
/// let bytes = n.to_bytes();
/// let back = Notification::parse(&bytes)?;
/// assert_eq!(back, n);
/// let Notification::Message(m) = back else { unreachable!() };
/// let raw = &bytes[m.mime_data.source_range().unwrap()];
/// assert!(raw.starts_with(b"<![CDATA[MIME-Version"));
/// # Ok::<(), rvp_proto::xml::XmlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Notification {
    /// `r:message`.
    Message(Message),
    /// `r:propnotification`.
    PropNotification(PropNotification),
    /// Anything else (application XML, several children): the raw source of the whole
    /// content of `r:notification`, kept intact.
    Application(String),
}

fn read_contacts(
    r: &mut Reader<'_>,
    e: &Elem<'_>,
    name: &'static str,
    into: &mut Vec<Contact>,
) -> Result<(), XmlError> {
    while let Some(c) = r.next_child(e, name)? {
        if c.is(Ns::Rvp, "contact") {
            into.push(Contact::read(r, &c)?);
        } else {
            r.skip(&c)?;
        }
    }
    Ok(())
}

fn one_contact(r: &mut Reader<'_>, e: &Elem<'_>, name: &'static str) -> Result<Contact, XmlError> {
    let mut v = Vec::new();
    read_contacts(r, e, name, &mut v)?;
    let mut it = v.into_iter();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(XmlError::Missing {
            parent: name,
            child: "r:contact",
        }),
        (Some(_), Some(_)) => Err(XmlError::Duplicate {
            parent: name,
            child: "r:contact",
        }),
    }
}

fn set_once<T>(
    slot: &mut Option<T>,
    v: T,
    parent: &'static str,
    child: &'static str,
) -> Result<(), XmlError> {
    if slot.replace(v).is_some() {
        return Err(XmlError::Duplicate { parent, child });
    }
    Ok(())
}

fn read_message(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Message, XmlError> {
    const P: &str = "r:message";
    let mut from = None;
    let mut to = Vec::new();
    let mut mime = None;
    while let Some(c) = r.next_child(e, P)? {
        match (c.ns, c.local) {
            (Ns::Rvp, "notification-from") => {
                let f = one_contact(r, &c, "r:notification-from")?;
                set_once(&mut from, f, P, "r:notification-from")?;
            }
            (Ns::Rvp, "notification-to") => read_contacts(r, &c, "r:notification-to", &mut to)?,
            (Ns::Rvp, "msgbody") => {
                while let Some(m) = r.next_child(&c, "r:msgbody")? {
                    if m.is(Ns::Rvp, "mime-data") {
                        let (text, range) = r.text_range(&m, "r:mime-data")?;
                        let data = MimeData {
                            text: text.into_owned(),
                            source: Some(range),
                        };
                        set_once(&mut mime, data, "r:msgbody", "r:mime-data")?;
                    } else {
                        r.skip(&m)?;
                    }
                }
            }
            _ => r.skip(&c)?,
        }
    }
    Ok(Message {
        from: from.ok_or(XmlError::Missing {
            parent: P,
            child: "r:notification-from",
        })?,
        to,
        mime_data: mime.ok_or(XmlError::Missing {
            parent: P,
            child: "r:mime-data",
        })?,
    })
}

fn read_propnotification(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<PropNotification, XmlError> {
    const P: &str = "r:propnotification";
    let mut from = None;
    let mut to = None;
    let mut update = None;
    while let Some(c) = r.next_child(e, P)? {
        match (c.ns, c.local) {
            (Ns::Rvp, "notification-from") => {
                let f = one_contact(r, &c, "r:notification-from")?;
                set_once(&mut from, f, P, "r:notification-from")?;
            }
            (Ns::Rvp, "notification-to") => {
                let t = one_contact(r, &c, "r:notification-to")?;
                set_once(&mut to, t, P, "r:notification-to")?;
            }
            (Ns::Dav, "propertyupdate") => {
                let u = PropertyUpdate::read(r, &c)?;
                set_once(&mut update, u, P, "d:propertyupdate")?;
            }
            _ => r.skip(&c)?,
        }
    }
    Ok(PropNotification {
        from: from.ok_or(XmlError::Missing {
            parent: P,
            child: "r:notification-from",
        })?,
        to: to.ok_or(XmlError::Missing {
            parent: P,
            child: "r:notification-to",
        })?,
        update: update.ok_or(XmlError::Missing {
            parent: P,
            child: "d:propertyupdate",
        })?,
    })
}

impl XmlBody for Notification {
    const ROOT: &'static str = "r:notification";

    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        parse_body(input, limits, read_document)
    }

    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        parse_mode(input, limits, mode, read_document)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::root_start(out, Self::ROOT);
        match self {
            Notification::Message(m) => {
                write::start(out, "r:message");
                write::start(out, "r:notification-from");
                m.from.write(out);
                write::end(out, "r:notification-from");
                for to in &m.to {
                    write::start(out, "r:notification-to");
                    to.write(out);
                    write::end(out, "r:notification-to");
                }
                write::start(out, "r:msgbody");
                write::start(out, "r:mime-data");
                write::write_cdata(out, &m.mime_data.text);
                write::end(out, "r:mime-data");
                write::end(out, "r:msgbody");
                write::end(out, "r:message");
            }
            Notification::PropNotification(p) => {
                write::start(out, "r:propnotification");
                write::start(out, "r:notification-from");
                p.from.write(out);
                write::end(out, "r:notification-from");
                write::start(out, "r:notification-to");
                p.to.write(out);
                write::end(out, "r:notification-to");
                write::start(out, "d:propertyupdate");
                p.update.write_inner(out);
                write::end(out, "d:propertyupdate");
                write::end(out, "r:propnotification");
            }
            Notification::Application(raw) => out.extend_from_slice(raw.as_bytes()),
        }
        write::end(out, Self::ROOT);
    }
}

/// The whole document, over either event source.
fn read_document(r: &mut Reader<'_>) -> Result<Notification, XmlError> {
    const ROOT: &str = <Notification as XmlBody>::ROOT;
    let root = r.root(Ns::Rvp, "notification", ROOT)?;
    let parsed = match r.next_child(&root, ROOT)? {
        None => {
            // No child element: keep whatever text there is.
            let raw = r.raw_consumed(&root, ROOT)?;
            r.finish(ROOT)?;
            return Ok(Notification::Application(raw.to_owned()));
        }
        Some(c) if c.is(Ns::Rvp, "message") => Some(Notification::Message(read_message(r, &c)?)),
        Some(c) if c.is(Ns::Rvp, "propnotification") => Some(Notification::PropNotification(
            read_propnotification(r, &c)?,
        )),
        Some(c) => {
            r.skip(&c)?;
            None
        }
    };
    let result = match (parsed, r.next_child(&root, ROOT)?) {
        (Some(n), None) => n,
        (None, None) => Notification::Application(r.raw_consumed(&root, ROOT)?.to_owned()),
        (_, Some(extra)) => {
            r.skip(&extra)?;
            Notification::Application(r.raw_rest(&root, ROOT)?.to_owned())
        }
    };
    r.finish(ROOT)?;
    Ok(result)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::PresenceState;
    use crate::xml::{Property, StateValue};

    const MIME_2_6_A: &str = "MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22
Session-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}

Let's have lunch";

    #[test]
    fn reference_2_6_a() {
        let body = format!(
            r#"<?xml version="1.0"?>
<r:notification xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <r:message>
  <r:notification-from>
   <r:contact>
    <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>
    <r:description>Steve Morgan</r:description>
   </r:contact>
  </r:notification-from>
  <r:notification-to>
   <r:contact>
    <d:href>http://im.acmewidgets.com/instmsg/aliases/bruceb</d:href>
    <r:description>bruce</r:description>
   </r:contact>
  </r:notification-to>
  <r:msgbody>
   <r:mime-data><![CDATA[{MIME_2_6_A}]]></r:mime-data>
  </r:msgbody>
 </r:message>
</r:notification>"#
        );
        let n = Notification::parse(body.as_bytes()).unwrap();
        let want = Notification::Message(Message {
            from: Contact::new(
                "http://im.example.com/instmsg/aliases/stevem",
                "Steve Morgan",
            ),
            to: vec![Contact::new(
                "http://im.acmewidgets.com/instmsg/aliases/bruceb",
                "bruce",
            )],
            mime_data: MimeData::new(MIME_2_6_A),
        });
        assert_eq!(n, want);
        let Notification::Message(m) = n else {
            unreachable!()
        };
        let range = m.mime_data.source_range().unwrap();
        assert_eq!(&body[range], format!("<![CDATA[{MIME_2_6_A}]]>"));
    }

    #[test]
    fn reference_2_6_b_golden() {
        let body = "<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><r:message><r:notification-from><r:contact><d:href>http://im.sabre.com/instmsg/aliases/piotr.piastucki</d:href><r:description>Piastucki, Piotr</r:description></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://im.sabre.com/instmsg/aliases/grzegorz.mucha</d:href><r:description>Mucha, Grzegorz</r:description></r:contact></r:notification-to><r:msgbody><r:mime-data><![CDATA[MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Tahoma; EF=; CO=0; CS=ee; PF=22\r\nSession-Id: {FE85D9C6-8995-4524-B8F2-D29E25D4555C}\r\n\r\na sniffuje co messenger wysyla ...]]></r:mime-data></r:msgbody></r:message></r:notification>";
        let n = Notification::parse(body.as_bytes()).unwrap();
        let Notification::Message(m) = &n else {
            panic!("{n:?}")
        };
        assert_eq!(m.from.description.as_deref(), Some("Piastucki, Piotr"));
        assert!(
            m.mime_data
                .text
                .ends_with("\r\n\r\na sniffuje co messenger wysyla ...")
        );
        assert_eq!(n.to_bytes(), body.as_bytes());
    }

    #[test]
    fn reference_2_6_d_propnotification() {
        let body = br#"<?xml version="1.0"?>
<r:notification xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <r:propnotification>
  <r:notification-from>
   <r:contact>
    <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>
    <r:description/>
   </r:contact>
  </r:notification-from>
  <r:notification-to>
   <r:contact>
    <d:href>http://im.acmewidgets.com/instmsg/aliases/bruceb</d:href>
    <r:description/>
   </r:contact>
  </r:notification-to>
  <d:propertyupdate>
   <d:set><d:prop><r:state><r:online/></r:state></d:prop></d:set>
  </d:propertyupdate>
 </r:propnotification>
</r:notification>"#;
        let n = Notification::parse(body).unwrap();
        let want = Notification::PropNotification(PropNotification {
            from: Contact::new("http://im.example.com/instmsg/aliases/stevem", ""),
            to: Contact::new("http://im.acmewidgets.com/instmsg/aliases/bruceb", ""),
            update: PropertyUpdate::set(vec![Property::state(StateValue::bare(
                PresenceState::Online,
            ))]),
        });
        assert_eq!(n, want);
        assert_eq!(
            n.to_bytes(),
            b"<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><r:propnotification><r:notification-from><r:contact><d:href>http://im.example.com/instmsg/aliases/stevem</d:href><r:description/></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://im.acmewidgets.com/instmsg/aliases/bruceb</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:online/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>"
        );
    }

    #[test]
    fn reference_2_6_e_application() {
        let inner = "\n <mEvent><eventType>DELIVER</eventType><eventTime>13:45 PST</eventTime>\n  <eventDate>03/24/98</eventDate><eventComment>Signed for by J Cohen</eventComment></mEvent>\n";
        let body = format!(
            "<?xml version=\"1.0\"?>\n<r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\">{inner}</r:notification>"
        );
        let n = Notification::parse(body.as_bytes()).unwrap();
        assert_eq!(n, Notification::Application(inner.into()));
        assert_eq!(Notification::parse(&n.to_bytes()).unwrap(), n);
    }

    #[test]
    fn message_plus_extra_child_is_kept_whole() {
        let inner = "<r:message><r:notification-from><r:contact><d:href>a</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>x</r:mime-data></r:msgbody></r:message><x:y xmlns:x='urn:x'/>";
        let body = format!(
            "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'>{inner}</r:notification>"
        );
        assert_eq!(
            Notification::parse(body.as_bytes()).unwrap(),
            Notification::Application(inner.into())
        );
        let empty = b"<r:notification xmlns:r='http://schemas.microsoft.com/rvp/'/>";
        assert_eq!(
            Notification::parse(empty).unwrap(),
            Notification::Application(String::new())
        );
    }

    #[test]
    fn mime_data_pieces_concatenate() {
        let body = b"<notification xmlns='http://schemas.microsoft.com/rvp/' xmlns:d='DAV:'><message><notification-from><contact><d:href> a </d:href></contact></notification-from><msgbody><mime-data><![CDATA[x]]]]><![CDATA[>y]]>&amp;z</mime-data></msgbody></message></notification>";
        let Notification::Message(m) = Notification::parse(body).unwrap() else {
            panic!()
        };
        assert_eq!(m.mime_data.text, "x]]>y&z");
        assert_eq!(
            m.from,
            Contact {
                href: "a".into(),
                description: None
            }
        );
        assert!(m.to.is_empty());
    }

    #[test]
    fn errors() {
        let no_from = b"<notification xmlns='http://schemas.microsoft.com/rvp/'><message><msgbody><mime-data>x</mime-data></msgbody></message></notification>";
        assert_eq!(
            Notification::parse(no_from).unwrap_err(),
            XmlError::Missing {
                parent: "r:message",
                child: "r:notification-from"
            }
        );
        let no_href = b"<notification xmlns='http://schemas.microsoft.com/rvp/'><message><notification-from><contact/></notification-from><msgbody><mime-data>x</mime-data></msgbody></message></notification>";
        assert_eq!(
            Notification::parse(no_href).unwrap_err(),
            XmlError::Missing {
                parent: "r:contact",
                child: "d:href"
            }
        );
    }
}
