//! Status codes and the reason phrases Exchange puts on them (PROTOCOL.md §2, §9.1).

use http::StatusCode;

/// The reason phrase Exchange 2000 writes for `status` (`200 Successful`,
/// `302 Object moved`, `401 Access Denied`, ...), falling back to the canonical HTTP
/// phrase, and to `"Unknown"` for codes that have none.
///
/// Clients look only at the code (PROTOCOL.md §2), but the phrases are part of what makes
/// our output byte-for-byte Exchange-like.
pub fn reason_phrase(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "Successful",
        207 => "Multi-Status",
        302 => "Object moved",
        401 => "Access Denied",
        412 => "Precondition Failed",
        _ => status.canonical_reason().unwrap_or("Unknown"),
    }
}

/// The reason phrase for `400` when an ACL principal lacks credentials (S§5.7.2).
pub const CREDENTIALS_NOT_SPECIFIED: &str = "credentials not specified";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_phrases() {
        assert_eq!(reason_phrase(StatusCode::OK), "Successful");
        assert_eq!(reason_phrase(StatusCode::MULTI_STATUS), "Multi-Status");
        assert_eq!(reason_phrase(StatusCode::FOUND), "Object moved");
        assert_eq!(reason_phrase(StatusCode::UNAUTHORIZED), "Access Denied");
        assert_eq!(
            reason_phrase(StatusCode::PRECONDITION_FAILED),
            "Precondition Failed"
        );
        assert_eq!(
            reason_phrase(StatusCode::NOT_IMPLEMENTED),
            "Not Implemented"
        );
        assert_eq!(
            reason_phrase(StatusCode::from_u16(599).unwrap_or(StatusCode::OK)),
            "Unknown"
        );
    }
}
