//! Addresses as users type them: `alias@domain` (PROTOCOL.md §1.3).
//!
//! An [`Address`] is the e-mail-like name of an RVP principal. The domain is either
//! the IM domain itself (what Exchange stores in `msExchIMAddress`, e.g.
//! `bruceb@im.acme.com`) or a mail domain that carries an `_rvp._tcp` SRV record
//! (e.g. `bruceb@acme.com`); [`crate::Resolver`] tells the two apart.
//!
//! Parsing is strict and total: any input gives either an `Address` or an
//! [`AddressError`] naming what is wrong, never a panic.

use std::fmt;
use std::str::FromStr;

use rvp_proto::url::{LogicalUrl, UrlError};

/// Longest alias accepted, in bytes (Exchange aliases are at most 64 characters).
pub const MAX_ALIAS_LEN: usize = 64;
/// Longest domain accepted, in bytes, without a trailing dot (RFC 1035 limit).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest DNS label accepted, in bytes (RFC 1035 limit).
pub const MAX_LABEL_LEN: usize = 63;

/// What is wrong with a typed address or domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The input has no `@` between alias and domain.
    #[error("address {input:?} has no '@' between alias and domain")]
    MissingAt {
        /// The input, truncated to 80 bytes.
        input: String,
    },
    /// The part before `@` is empty.
    #[error("address has an empty alias before '@'")]
    EmptyAlias,
    /// The alias is longer than [`MAX_ALIAS_LEN`].
    #[error("alias is {len} bytes long, the limit is {MAX_ALIAS_LEN}")]
    AliasTooLong {
        /// Length of the alias in bytes.
        len: usize,
    },
    /// The alias contains a character that cannot appear in the path of a logical URL.
    #[error("alias contains the forbidden character {ch:?}")]
    AliasChar {
        /// The offending character.
        ch: char,
    },
    /// The domain part is empty.
    #[error("address has an empty domain after '@'")]
    EmptyDomain,
    /// The domain is longer than [`MAX_DOMAIN_LEN`].
    #[error("domain is {len} bytes long, the limit is {MAX_DOMAIN_LEN}")]
    DomainTooLong {
        /// Length of the domain in bytes.
        len: usize,
    },
    /// A label of the domain is empty (two dots in a row, or a leading dot).
    #[error("domain {domain:?} has an empty label")]
    EmptyLabel {
        /// The domain, truncated to 80 bytes.
        domain: String,
    },
    /// A label of the domain is longer than [`MAX_LABEL_LEN`].
    #[error("domain label {label:?} is longer than {MAX_LABEL_LEN} bytes")]
    LabelTooLong {
        /// The label, truncated to 80 bytes.
        label: String,
    },
    /// A label of the domain contains something other than ASCII letters, digits and `-`,
    /// or starts or ends with `-`.
    #[error("domain label {label:?} is not a valid host name label (letters, digits, inner '-')")]
    LabelChar {
        /// The label, truncated to 80 bytes.
        label: String,
    },
}

fn truncated(s: &str) -> String {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// An RVP address `alias@domain`.
///
/// The domain is stored in lower case (DNS names are case-insensitive) and without a
/// trailing dot; the alias keeps the case it was typed in (aliases are matched
/// case-insensitively by servers, PROTOCOL.md §1.2, but displayed as typed).
///
/// ```
/// use rvp_resolve::Address;
///
/// let a: Address = "BruceB@Acme.COM".parse()?;
/// assert_eq!(a.alias(), "BruceB");
/// assert_eq!(a.domain(), "acme.com");
/// assert_eq!(a.to_string(), "BruceB@acme.com");
/// # Ok::<(), rvp_resolve::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    alias: Box<str>,
    domain: Box<str>,
}

impl Address {
    /// Builds an address from its two parts, validating both.
    pub fn new(alias: &str, domain: &str) -> Result<Self, AddressError> {
        validate_alias(alias)?;
        let domain = normalize_domain(domain)?;
        Ok(Self {
            alias: alias.into(),
            domain: domain.into(),
        })
    }

    /// Parses `alias@domain`. The split is at the last `@`, so an alias containing `@`
    /// is reported as [`AddressError::AliasChar`] rather than as a bad domain.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let input = input.trim();
        let Some((alias, domain)) = input.rsplit_once('@') else {
            return Err(AddressError::MissingAt {
                input: truncated(input),
            });
        };
        Self::new(alias, domain)
    }

    /// The alias, as typed.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The domain, lower case, without a trailing dot.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The SRV owner name queried for this address's domain: `_rvp._tcp.<domain>`.
    pub fn srv_name(&self) -> String {
        srv_name(&self.domain)
    }

    /// The logical URL of this address read as `alias@<IM domain>`, without any DNS
    /// query: `http://<domain>/instmsg/aliases/<alias>` (PROTOCOL.md §1.3). When the domain
    /// is a mail domain with an `_rvp._tcp` SRV record, use [`crate::Resolver::resolve`]
    /// instead, which names the URL after the SRV target (§7.1).
    ///
    /// ```
    /// use rvp_resolve::Address;
    ///
    /// let a: Address = "bruceb@im.acme.com".parse()?;
    /// assert_eq!(a.logical_url()?.to_string(), "http://im.acme.com/instmsg/aliases/bruceb");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn logical_url(&self) -> Result<LogicalUrl, UrlError> {
        LogicalUrl::new(&self.domain, &self.alias)
    }

    /// The address displayed for a logical URL without any learned SRV mapping:
    /// `alias@host` (port dropped). [`crate::Resolver::display_address`] also applies
    /// the learned `SRV target → domain` mappings.
    pub fn from_logical_url(url: &LogicalUrl) -> Result<Self, AddressError> {
        Self::new(url.alias(), host_without_port(url.host()))
    }
}

/// `host` from `host` or `host:port` (`[v6]:port` gives `[v6]`).
pub(crate) fn host_without_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((h, p))
            if (h.ends_with(']') || !h.contains(':'))
                && !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            h
        }
        _ => authority,
    }
}

/// The SRV owner name for `domain`: `_rvp._tcp.<domain>` (PROTOCOL.md §7.1).
pub fn srv_name(domain: &str) -> String {
    format!("_rvp._tcp.{domain}")
}

/// The SRV owner name that says `domain`'s RVP servers speak TLS: `_rvps._tcp.<domain>`
/// (PROTOCOL.md §7.6, our convention (R); Exchange 2000 IM had no TLS). Its records name
/// the TLS endpoints (port 443 unless a record says otherwise), and a server that finds
/// one reaches the domain's call-backs only over TLS, checking the certificate against
/// the domain.
///
/// ```
/// assert_eq!(rvp_resolve::address::tls_srv_name("acme.com"), "_rvps._tcp.acme.com");
/// ```
pub fn tls_srv_name(domain: &str) -> String {
    format!("_rvps._tcp.{domain}")
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.alias, self.domain)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Checks an alias: non-empty, at most [`MAX_ALIAS_LEN`] bytes, no whitespace, no
/// control characters, and none of `@ / ? # % : \ < > " [ ]` which would break the
/// logical URL `http://host/instmsg/aliases/<alias>` or the address syntax.
pub fn validate_alias(alias: &str) -> Result<(), AddressError> {
    if alias.is_empty() {
        return Err(AddressError::EmptyAlias);
    }
    if alias.len() > MAX_ALIAS_LEN {
        return Err(AddressError::AliasTooLong { len: alias.len() });
    }
    if let Some(ch) = alias.chars().find(|&c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '@' | '/' | '?' | '#' | '%' | ':' | '\\' | '<' | '>' | '"' | '[' | ']'
            )
    }) {
        return Err(AddressError::AliasChar { ch });
    }
    Ok(())
}

/// Validates a host name and returns it in lower case without a trailing dot.
///
/// Labels are ASCII letters, digits and inner hyphens; underscores are accepted too,
/// because SRV targets and internal names sometimes carry them.
pub fn normalize_domain(domain: &str) -> Result<String, AddressError> {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    if d.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    if d.len() > MAX_DOMAIN_LEN {
        return Err(AddressError::DomainTooLong { len: d.len() });
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(AddressError::EmptyLabel {
                domain: truncated(d),
            });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(AddressError::LabelTooLong {
                label: truncated(label),
            });
        }
        let ok_chars = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_chars || label.starts_with('-') || label.ends_with('-') {
            return Err(AddressError::LabelChar {
                label: truncated(label),
            });
        }
    }
    Ok(d.to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats() {
        let a = Address::parse(" andyo@Domain1.com. ").unwrap();
        assert_eq!(a.alias(), "andyo");
        assert_eq!(a.domain(), "domain1.com");
        assert_eq!(a.to_string(), "andyo@domain1.com");
        assert_eq!(a.srv_name(), "_rvp._tcp.domain1.com");
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert!(matches!(
            Address::parse("nobody"),
            Err(AddressError::MissingAt { .. })
        ));
        assert_eq!(Address::parse("@x.com"), Err(AddressError::EmptyAlias));
        assert_eq!(Address::parse("a@"), Err(AddressError::EmptyDomain));
        assert_eq!(Address::parse("a@."), Err(AddressError::EmptyDomain));
        assert_eq!(
            Address::parse("a b@x.com"),
            Err(AddressError::AliasChar { ch: ' ' })
        );
        assert_eq!(
            Address::parse("a/b@x.com"),
            Err(AddressError::AliasChar { ch: '/' })
        );
        assert_eq!(
            Address::parse("a@b@x.com"),
            Err(AddressError::AliasChar { ch: '@' })
        );
        assert!(matches!(
            Address::parse("a@x..com"),
            Err(AddressError::EmptyLabel { .. })
        ));
        assert!(matches!(
            Address::parse("a@-x.com"),
            Err(AddressError::LabelChar { .. })
        ));
        assert!(matches!(
            Address::parse("a@x y.com"),
            Err(AddressError::LabelChar { .. })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let alias = "a".repeat(MAX_ALIAS_LEN);
        assert!(Address::new(&alias, "x.com").is_ok());
        let alias = "a".repeat(MAX_ALIAS_LEN + 1);
        assert_eq!(
            Address::new(&alias, "x.com"),
            Err(AddressError::AliasTooLong {
                len: MAX_ALIAS_LEN + 1
            })
        );
        let label = "b".repeat(MAX_LABEL_LEN);
        assert!(Address::new("a", &format!("{label}.com")).is_ok());
        let label = "b".repeat(MAX_LABEL_LEN + 1);
        assert!(matches!(
            Address::new("a", &format!("{label}.com")),
            Err(AddressError::LabelTooLong { .. })
        ));
        // 4 labels of 63 + 3 dots = 255 > 253
        let long = [label.as_str(); 4].join(".");
        assert!(matches!(
            Address::new("a", &long[4..]),
            Err(AddressError::DomainTooLong { .. })
        ));
    }

    #[test]
    fn logical_url_both_ways() {
        let a = Address::parse("KevinF@IM.Domain2.com").unwrap();
        let url = a.logical_url().unwrap();
        assert_eq!(
            url.to_string(),
            "http://im.domain2.com/instmsg/aliases/kevinf"
        );
        // Aliases compare case-insensitively: the URL carries the lower-case form.
        assert_eq!(
            Address::from_logical_url(&url).unwrap().to_string(),
            "kevinf@im.domain2.com"
        );
        let with_port = LogicalUrl::new("im.acme.test:8080", "bruceb").unwrap();
        assert_eq!(
            Address::from_logical_url(&with_port).unwrap().to_string(),
            "bruceb@im.acme.test"
        );
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("h:x"), "h:x");
    }

    proptest! {
        #[test]
        fn address_to_url_and_back(
            alias in "[a-z0-9._'-]{1,64}",
            domain in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z]{1,10}){1,3}",
        ) {
            let a = Address::new(&alias, &domain).unwrap();
            prop_assume!(alias != "." && alias != "..");
            let url = a.logical_url().unwrap();
            prop_assert_eq!(Address::from_logical_url(&url).unwrap(), a);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,300}") {
            let _ = Address::parse(&s);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Address::parse(&String::from_utf8_lossy(&b));
        }

        #[test]
        fn format_then_parse_is_identity(
            alias in "[A-Za-z0-9._'-]{1,64}",
            domain in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,4}",
        ) {
            let a = Address::new(&alias, &domain).unwrap();
            let back: Address = a.to_string().parse().unwrap();
            prop_assert_eq!(back, a);
        }
    }
}
