//! The last verification of each tenant's chain, whoever ran it (`/api/v1/audit/verify`,
//! `tessera audit verify`, the console's "Verify now"): the console says when a chain
//! was last found intact, or where it broke. The queries are in `store.rs`.

mod store;

pub use store::{latest, record, verified_position, ChainCheck, Position};
