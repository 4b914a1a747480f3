//! The RVP home server's brain (placeholder docs, see below).

pub mod acl;
pub mod caller;
mod clock;
pub mod delivery;
pub mod engine;
mod intern;
pub mod lease;
pub mod policy;
pub mod principal;
pub mod render;
pub mod subscription;

pub use acl::{Ace, AcePrincipal, Acl, AclError};
pub use caller::Caller;
pub use delivery::{AckType, DeliveryId, DeliveryOutcome};
pub use engine::{
    Answer, Delivery, Engine, NodeProperties, NotifyParams, Output, PropfindScope, Refusal,
    RequestId, Response, StatePatch, SubscribeParams, SubscriptionEntry,
};
pub use lease::{LeasedState, ViewId};
pub use policy::{Policy, PolicyError};
pub use principal::{Directory, DirectoryProperties, NodeKey, PrincipalId};
pub use subscription::{SubscriptionId, SubscriptionInfo, SubscriptionKind};
