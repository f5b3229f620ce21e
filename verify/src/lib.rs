//! Verification of Tessera access tokens (skeleton).
