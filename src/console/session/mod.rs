//! The console's server-side sessions: a random cookie in the browser, its hash and
//! the sign-in or the reader's verified claims in `console_sessions` (`store.rs`).

mod store;

pub use store::{
    begin, complete, end, purge, reader, set_time_zone, take_sign_in, Reader, Returning, Row,
    SignIn,
};
