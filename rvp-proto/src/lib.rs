//! The wire format of RVP, the presence and instant-messaging protocol of Exchange 2000
//! Instant Messaging, as a sans-IO library.
//!
//! (Crate documentation with the data-flow diagram and a round-trip example: see issue 2.)

pub mod codec;
pub mod header;
pub mod method;
pub mod payload;
pub mod rights;
pub mod state;
pub mod status;
pub mod url;
pub mod xml;

pub use method::{Method, MethodClass};
pub use payload::{Payload, PayloadError, PayloadLimits};
pub use rights::{CredentialKind, CredentialSet, Right, RightSet};
pub use state::PresenceState;
pub use status::reason_phrase;

// Framing layer (codec, header, url).
pub use codec::{Limits, ParseError, RequestParser, ResponseParser, Status};
pub use header::{AckType, HeaderError, HopCount, NotificationType, RvpHeaders, SubscriptionId};
pub use url::{LocalNodeUrl, LogicalUrl, NodeUrl, PhysicalUrl, UrlError};
