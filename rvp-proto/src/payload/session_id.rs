//! GUIDs in the Windows registry form `{8-4-4-4-12}`: the `Session-Id` of a conversation
//! and the `Application-GUID` of an invitation (PROTOCOL.md §6.2, §6.3).

use std::fmt;
use std::str::FromStr;

/// A GUID such as `{79FC61B5-1234-1234-8A10-941F33CA4C90}`.
///
/// Written in upper-case hex inside braces (the form Windows Messenger, Miranda, librvp and
/// Net::RVP send). Read tolerantly: any case, braces optional, surrounding white space
/// ignored; the five groups must have 8, 4, 4, 4 and 12 hex digits.
///
/// ```
/// use rvp_proto::payload::Guid;
///
/// let id: Guid = "5d3e02ab-6190-11d3-bbbb-00c04f795683".parse()?;
/// assert_eq!(id.to_string(), "{5D3E02AB-6190-11D3-BBBB-00C04F795683}");
/// # Ok::<(), rvp_proto::payload::InvalidGuid>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub u128);

/// The `Session-Id` of a conversation (a [`Guid`]).
pub type SessionId = Guid;

/// The text is not a GUID of the form `{8-4-4-4-12}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a GUID of the form {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}}")]
#[non_exhaustive]
pub struct InvalidGuid;

impl Guid {
    /// Builds a GUID from 16 bytes (for example from a random number generator), taken as
    /// a big-endian number: byte 0 is the first two hex digits written.
    pub fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(u128::from_be_bytes(bytes))
    }
}

impl FromStr for Guid {
    type Err = InvalidGuid;

    fn from_str(s: &str) -> Result<Guid, InvalidGuid> {
        let s = s.trim();
        let s = match (s.strip_prefix('{'), s.strip_suffix('}')) {
            (Some(_), Some(_)) if s.len() >= 2 => &s[1..s.len() - 1],
            (None, None) => s,
            _ => return Err(InvalidGuid),
        };
        let mut value: u128 = 0;
        let mut groups = 0;
        for (i, group) in s.split('-').enumerate() {
            let want = [8, 4, 4, 4, 12].get(i).copied().ok_or(InvalidGuid)?;
            if group.len() != want || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(InvalidGuid);
            }
            let n = u64::from_str_radix(group, 16).map_err(|_| InvalidGuid)?;
            value = (value << (4 * want)) | u128::from(n);
            groups += 1;
        }
        if groups != 5 {
            return Err(InvalidGuid);
        }
        Ok(Guid(value))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
            v >> 96,
            (v >> 80) & 0xFFFF,
            (v >> 64) & 0xFFFF,
            (v >> 48) & 0xFFFF,
            v & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_round_trips() {
        let s = "{79FC61B5-1234-1234-8A10-941F33CA4C90}";
        let g: Guid = s.parse().unwrap();
        assert_eq!(g.0, 0x79FC61B5_1234_1234_8A10_941F33CA4C90);
        assert_eq!(g.to_string(), s);
    }

    #[test]
    fn tolerant_input() {
        let a: Guid = " {5d3e02ab-6190-11d3-bbbb-00c04f795683} ".parse().unwrap();
        let b: Guid = "5D3E02AB-6190-11d3-BBBB-00C04F795683".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(Guid::from_bytes(a.0.to_be_bytes()), a);
    }

    #[test]
    fn malformed_are_rejected() {
        for bad in [
            "",
            "{}",
            "{79FC61B5-1234-1234-8A10-941F33CA4C90",
            "79FC61B5-1234-1234-8A10-941F33CA4C90}",
            "{79FC61B5-1234-1234-8A10}",
            "{79FC61B5-1234-1234-8A10-941F33CA4C90-1}",
            "{79FC61B-51234-1234-8A10-941F33CA4C90}",
            "{+9FC61B5-1234-1234-8A10-941F33CA4C90}",
            "{79FC61B5-1234-1234-8A10-941F33CA4CG0}",
        ] {
            assert_eq!(bad.parse::<Guid>(), Err(InvalidGuid), "{bad:?}");
        }
    }
}
