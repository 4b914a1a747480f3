//! Where `passwd` gets the new password: the first line of standard input
//! (`--password-stdin`), or asked twice on the terminal without echo. And the names an
//! admin types: `alias` or `alias@domain`, extra Digest username forms.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use rvp_resolve::Address;
use rvp_server::directory::username_alias;

use super::UserError;

/// Longest password accepted, in bytes.
pub(crate) const MAX_PASSWORD_LEN: usize = 1024;
/// Longest Digest username form accepted (`--username`), in bytes.
pub(crate) const MAX_USERNAME_LEN: usize = 256;

/// A password as typed: non-empty, at most [`MAX_PASSWORD_LEN`] bytes, no control
/// characters (they cannot be typed into a client's password box).
pub(crate) fn check_password(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("the password is empty".into());
    }
    if p.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password is {} bytes long; at most {MAX_PASSWORD_LEN}",
            p.len()
        ));
    }
    if p.chars().any(char::is_control) {
        return Err("the password contains a control character".into());
    }
    Ok(())
}

/// The first line of `input` (without its `\n` or `\r\n`), checked. Reads at most
/// [`MAX_PASSWORD_LEN`] + 2 bytes.
pub(crate) fn read_line(input: impl Read) -> Result<String, UserError> {
    let mut r = BufReader::new(input.take(MAX_PASSWORD_LEN as u64 + 2));
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)
        .map_err(|e| UserError::Invalid(format!("cannot read the password: {e}")))?;
    let had_newline = line.last() == Some(&b'\n');
    if had_newline {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > MAX_PASSWORD_LEN {
        return Err(UserError::Invalid(format!(
            "the password is longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let p = String::from_utf8(line)
        .map_err(|_| UserError::Invalid("the password is not UTF-8 text".into()))?;
    check_password(&p).map_err(UserError::Invalid)?;
    Ok(p)
}

/// Asks for the password twice on the controlling terminal (`/dev/tty`), echo off
/// (`stty -echo`, restored afterwards).
pub(crate) fn prompt(address: &Address) -> Result<String, UserError> {
    let no_tty = |e: std::io::Error| {
        UserError::Invalid(format!(
            "no terminal to ask the password on ({e}): give it on standard input with \
             --password-stdin"
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(no_tty)?;
    let echo = |on: bool| -> Result<(), UserError> {
        let input = tty.try_clone().map_err(no_tty)?;
        let ok = Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(Stdio::from(input))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            Err(UserError::Invalid(
                "cannot turn the terminal's echo off (stty): give the password with \
                 --password-stdin"
                    .into(),
            ))
        }
    };
    let ask = |question: &str| -> Result<String, UserError> {
        let mut w = &tty;
        write!(w, "{question}").map_err(no_tty)?;
        w.flush().map_err(no_tty)?;
        echo(false)?;
        let read = read_line(tty.try_clone().map_err(no_tty)?);
        let restored = echo(true);
        let _ = writeln!(w);
        let p = read?;
        restored?;
        Ok(p)
    };
    let first = ask(&format!("New password for {address}: "))?;
    let again = ask("Again: ")?;
    if first != again {
        return Err(UserError::Invalid(
            "the two passwords differ; nothing was changed".into(),
        ));
    }
    Ok(first)
}

/// The user an admin names: `alias` (in `domain`) or `alias@domain` (which must be
/// `domain`).
pub(crate) fn parse_user(text: &str, domain: &str) -> Result<Address, String> {
    let bad = |e: &dyn std::fmt::Display| {
        format!("{text:?} is not a user (give alias or alias@{domain}): {e}")
    };
    let address = if text.contains('@') {
        Address::parse(text).map_err(|e| bad(&e))?
    } else {
        Address::new(text, domain).map_err(|e| bad(&e))?
    };
    if !address
        .domain()
        .eq_ignore_ascii_case(domain.trim_end_matches('.'))
    {
        return Err(format!(
            "{text} is not in this server's IM domain {domain} ([server] domain)"
        ));
    }
    Ok(address)
}

/// A Digest username form for `address` (`CORP\alice`, `CORP/alice`, `alice`): bounded,
/// no `:` (it separates the stored `username:realm:HA1`), no control characters, and it
/// names this user (the server checks that too).
pub(crate) fn check_username(form: &str, address: &Address) -> Result<(), String> {
    if form.is_empty() || form.len() > MAX_USERNAME_LEN {
        return Err(format!(
            "username form {form:?}: 1 to {MAX_USERNAME_LEN} bytes"
        ));
    }
    if form.contains(':') || form.chars().any(char::is_control) {
        return Err(format!(
            "username form {form:?}: no ':' and no control characters"
        ));
    }
    if !username_alias(form).eq_ignore_ascii_case(address.alias()) {
        return Err(format!(
            "username form {form:?} does not name {address} (expected {alias}, \
             DOMAIN\\{alias} or DOMAIN/{alias})",
            alias = address.alias()
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_are_read_and_bounded() {
        assert_eq!(read_line(&b"s3cret\n"[..]).unwrap(), "s3cret");
        assert_eq!(read_line(&b"s3cret\r\nrest\n"[..]).unwrap(), "s3cret");
        assert_eq!(read_line(&b"no newline"[..]).unwrap(), "no newline");
        for (bad, words) in [
            (&b"\n"[..], "empty"),
            (&b""[..], "empty"),
            (&b"a\tb\n"[..], "control"),
            (&b"\xff\xfe\n"[..], "UTF-8"),
        ] {
            let e = read_line(bad).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert!(read_line(long.as_bytes()).is_err());
        assert!(read_line(format!("{long}\n").as_bytes()).is_err());
        let max = "x".repeat(MAX_PASSWORD_LEN);
        assert_eq!(read_line(format!("{max}\n").as_bytes()).unwrap(), max);
    }

    #[test]
    fn users_are_aliases_of_the_domain() {
        let a = parse_user("Alice", "im.example.org").unwrap();
        assert_eq!(a.to_string(), "Alice@im.example.org");
        let a = parse_user("alice@IM.example.org", "im.example.org").unwrap();
        assert_eq!(a.alias(), "alice");
        for (bad, words) in [
            ("alice@other.org", "not in this server's IM domain"),
            ("", "is not a user"),
            ("a b", "is not a user"),
            ("@im.example.org", "is not a user"),
        ] {
            let e = parse_user(bad, "im.example.org").unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[test]
    fn username_forms_name_the_user() {
        let a = Address::new("alice", "im.example.org").unwrap();
        for ok in ["alice", "CORP\\alice", "CORP/Alice"] {
            assert_eq!(check_username(ok, &a), Ok(()), "{ok}");
        }
        for bad in ["bob", "CORP\\bob", "a:alice", "", "CORP\\\nalice"] {
            assert!(check_username(bad, &a).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Whatever the input, reading a password never panics and answers either a
        /// password that passes the check or an error; a checked password written as a
        /// line reads back unchanged.
        #[test]
        fn any_input_reads_safely(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            if let Ok(p) = read_line(&bytes[..]) {
                prop_assert!(check_password(&p).is_ok());
            }
        }

        #[test]
        fn passwords_read_back(p in "[^\\p{Cc}]{1,200}") {
            prop_assume!(p.len() <= MAX_PASSWORD_LEN);
            prop_assert_eq!(read_line(format!("{p}\n").as_bytes()).unwrap(), p);
        }

        /// The user parser answers an address of the domain or an error, never panics.
        #[test]
        fn user_names_parse_safely(text in "\\PC{0,80}") {
            if let Ok(a) = parse_user(&text, "im.example.org") {
                prop_assert_eq!(a.domain(), "im.example.org");
            }
        }
    }
}
