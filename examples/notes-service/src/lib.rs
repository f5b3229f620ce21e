//! Example notes service (skeleton).
