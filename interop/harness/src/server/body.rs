//! Request bodies in librvp's shape.

use crate::names::url;

/// A `PROPFIND` body asking for `r:state`, `d:displayname` and `r:email`.
pub const PROPFIND_BODY: &str = "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:prop><r:state/><d:displayname/><r:email/></d:prop></d:propfind>";

/// A `PROPPATCH` body setting the state `state` (`online`, `busy`, ...) with a lease of
/// `timeout` seconds, falling back to `offline`.
pub fn state_body(state: &str, timeout: u32) -> String {
    format!(
        "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:set><d:prop><r:state><r:leased-value><r:value><r:{state}/></r:value><r:default-value><r:offline/></r:default-value><d:timeout>{timeout}</d:timeout></r:leased-value></r:state></d:prop></d:set></d:propertyupdate>"
    )
}

/// An `ACL` body with one ACE for `who` (a URL): `send-to` and `presence` granted, or
/// denied when `deny`, for every credential kind.
pub fn acl_body(who: &str, deny: bool) -> String {
    let rights = "<a:send-to/><a:presence/>";
    let (grant, deny) = if deny { ("", rights) } else { (rights, "") };
    format!(
        "<?xml version=\"1.0\"?><a:rvpacl xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\" xmlns:a=\"http://schemas.microsoft.com/rvp/acl/\"><a:acl><a:inheritance>none</a:inheritance><a:ace><a:principal><a:rvp-principal>{who}</a:rvp-principal><a:credentials><a:assertion/><a:digest/><a:ntlm/></a:credentials></a:principal><a:grant>{grant}</a:grant><a:deny>{deny}</a:deny></a:ace></a:acl></a:rvpacl>"
    )
}

/// An IM body from alice in librvp's shape, `text` as `text/plain`.
pub fn im_body(text: &str) -> Vec<u8> {
    im_body_from(&url("alice"), text)
}

/// An IM body in librvp's shape whose `r:notification-from` names `from` (a URL).
pub fn im_body_from(from: &str, text: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:message><r:notification-from><r:contact><d:href>{from}</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>Content-Type: text/plain\r\n\r\n{text}</r:mime-data></r:msgbody></r:message></r:notification>"
    )
    .into_bytes()
}
