//! Typed RVP headers (reference §3.1). Owned by the framing work; see issue 2.
