//! [`RequestId`]: the name a sans-IO state machine gives one request, on either side.

use std::fmt;

/// Names one request an embedder hands to a state machine, or one a state machine emits;
/// its answer comes back under the same id.
///
/// One type for every side: the presence engine (`rvp-presence`) echoes the id its
/// embedder chose in the answer; the client session (`rvp-client`) names the requests it
/// emits with it; the server's engine task keys its pending answers by it. The number has
/// no meaning on the wire.
///
/// ```
/// use rvp_proto::RequestId;
///
/// assert_eq!(RequestId(7).to_string(), "#7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
