//! E-mail, with lettre only: building messages (`message.rs`) from bodies encoded once for a
//! whole list (`body.rs`), signing them (`dkim.rs`),
//! sending them (`transport.rs`), what can be wrong with their settings (`settings.rs`), the signed tokens their links carry (`token.rs`) and
//! addresses as logs show them (`address.rs`).

pub mod address;
pub mod body;
pub mod dkim;
pub mod message;
mod settings;
pub mod smtp;
pub mod token;
pub mod transport;
pub mod verp;

pub use address::{Masked, mask_addresses};
pub use message::{Letter, MessageError, build, message_id, one_line};
pub use settings::{CaFileError, SettingsError, UrlError};
pub use token::{ConfirmToken, TokenError, Tokens};
pub use transport::{OUTBOX_DIR, SendError, Transport};
pub use verp::Verp;
