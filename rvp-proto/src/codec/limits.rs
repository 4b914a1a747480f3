//! Explicit limits on what the parsers accept.

/// Hard upper bound on [`Limits::max_headers`]: the parsers keep header slots on the stack.
pub const MAX_HEADERS_CAP: usize = 64;

/// Limits applied by [`RequestParser`](super::RequestParser) and
/// [`ResponseParser`](super::ResponseParser). Exceeding one is a typed
/// [`ParseError`](super::ParseError), never a panic or a silent truncation.
///
/// ```
/// use rvp_proto::codec::Limits;
///
/// let mut limits = Limits::default();
/// limits.max_body_bytes = 64 * 1024;
/// assert_eq!(limits.max_head_bytes, 16 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Longest head (start line + headers + blank line), in bytes. Default 16 KiB: real
    /// RVP heads are 200–400 bytes; NTLM `Authorization` headers stay below 2 KiB.
    pub max_head_bytes: usize,
    /// Most header lines per message. Default 32 (real clients send 7–10). Values above
    /// [`MAX_HEADERS_CAP`] are treated as [`MAX_HEADERS_CAP`].
    pub max_headers: usize,
    /// Longest body, in bytes (declared by `Content-Length`, or read until close). Default
    /// 1 MiB: IMs and multistatus bodies are a few KiB.
    pub max_body_bytes: usize,
}

impl Limits {
    /// The default limits (see the fields).
    pub const DEFAULT: Limits = Limits {
        max_head_bytes: 16 * 1024,
        max_headers: 32,
        max_body_bytes: 1024 * 1024,
    };

    /// Sets [`Limits::max_head_bytes`].
    pub const fn with_max_head_bytes(mut self, n: usize) -> Limits {
        self.max_head_bytes = n;
        self
    }

    /// Sets [`Limits::max_headers`].
    pub const fn with_max_headers(mut self, n: usize) -> Limits {
        self.max_headers = n;
        self
    }

    /// Sets [`Limits::max_body_bytes`].
    pub const fn with_max_body_bytes(mut self, n: usize) -> Limits {
        self.max_body_bytes = n;
        self
    }

    /// The effective header-count limit (capped at [`MAX_HEADERS_CAP`]).
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(MAX_HEADERS_CAP)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
