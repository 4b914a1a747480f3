//! UNSUBSCRIBE (PROTOCOL.md §2.2): `Subscription-Id` missing → `400`, not one of ours or
//! unknown → `412`; the subscriber or the node owner may cancel.

use super::Cx;
use super::subscribe::subscription_id;
use crate::engine::{Engine, Refusal};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let id = subscription_id(cx)?;
    e.unsubscribe(cx.now, cx.request, cx.caller, cx.key, id);
    Ok(())
}
