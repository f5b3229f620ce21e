//! Audit streams: delivering each tenant's audit log to an HTTP receiver, signed, over
//! checked destinations only. These are the pure building blocks.

pub mod client;
pub mod destination;
pub mod otlp;
pub mod sign;
