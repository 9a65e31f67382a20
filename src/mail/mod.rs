//! E-mail, with lettre only: building messages (`message.rs`), signing them (`dkim.rs`),
//! sending them (`transport.rs`) and the signed tokens their links carry (`token.rs`).

pub mod dkim;
pub mod message;
pub mod smtp;
pub mod token;
pub mod transport;
pub mod verp;

pub use message::{Letter, MessageError, build, message_id};
pub use token::{TokenError, Tokens};
pub use transport::{OUTBOX_DIR, SendError, Transport};
pub use verp::Verp;
