//! The overview's counts, per tenant and hour: settled hours from `audit_rollups`,
//! the rest live (`store.rs` has both, and why).

mod store;

pub use store::{counts, purge, settle, settle_all, Bucket, Window, KEEP, SETTLE};
