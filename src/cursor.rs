//! Page cursors (the `next_cursor` of every listing): a position in the listing's order,
//! a small serde type, written as base64url JSON. Clients treat it as opaque; anything
//! that is not a cursor this service produced (too long, not base64url, not the
//! position's JSON, or a position that fails its own check) is a 400, never a query.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Longer cursor texts are refused before decoding.
const MAX_LEN: usize = 512;

/// A position one listing pages by.
pub trait Position: Serialize + DeserializeOwned {
    /// Whether the decoded fields are well-formed (ids are UUIDs, …), so that nothing
    /// but a real position reaches the database.
    fn is_valid(&self) -> bool;
}

pub fn encode<P: Position>(position: &P) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn decode<P: Position>(text: &str) -> Result<P> {
    const INVALID: Error = Error::Invalid("cursor");
    if text.len() > MAX_LEN {
        return Err(INVALID);
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| INVALID)?;
    let position: P = serde_json::from_slice(&bytes).map_err(|_| INVALID)?;
    if !position.is_valid() {
        return Err(INVALID);
    }
    Ok(position)
}
