//! Framing: incremental request/response parsing and serialization (reference §2, §3).
