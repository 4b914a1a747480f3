//! The test domain's names: every test and bench that needs the logical URL or the
//! request path of a test user takes it from here.
//!
//! ```
//! assert_eq!(rvp_interop::url("alice"), "http://localhost/instmsg/aliases/alice");
//! assert_eq!(rvp_interop::path("alice"), "/instmsg/aliases/alice");
//! assert_eq!(rvp_interop::logical_url("alice").alias(), "alice");
//! ```

use rvp_proto::url::LogicalUrl;

/// The IM domain of the tests: `localhost` (rvp-server's default `[server] domain`).
pub const DOMAIN: &str = "localhost";

/// The logical URL of `alias` in [`DOMAIN`] (`http://localhost/instmsg/aliases/alias`), as
/// text: `alias` is not checked, so that a test can also build URLs a server must refuse.
pub fn url(alias: &str) -> String {
    format!("http://{DOMAIN}{}", path(alias))
}

/// The request path of `alias`'s node (`/instmsg/aliases/alias`).
pub fn path(alias: &str) -> String {
    format!("/instmsg/aliases/{alias}")
}

/// [`url`] parsed: the typed logical URL of `alias` in [`DOMAIN`]. Panics when `alias` is
/// not a valid alias.
pub fn logical_url(alias: &str) -> LogicalUrl {
    url(alias)
        .parse()
        .unwrap_or_else(|e| panic!("{alias:?} is not a valid alias: {e}"))
}
