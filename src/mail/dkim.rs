//! DKIM signing (RFC 6376) with lettre's `dkim` feature.
//!
//! The signed headers include both List-Unsubscribe headers: RFC 8058 §3 requires them to be
//! covered by a valid DKIM signature for one-click unsubscription to be honoured.

use std::path::Path;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;

use super::message::{LIST_ID, LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST};
use crate::config;

/// Loads the signing configuration; errors name the key file.
pub fn load(root: &Path, config: &config::DkimConfig) -> Result<DkimConfig, String> {
    let path = root.join(&config.key_file);
    let key = std::fs::read_to_string(&path).map_err(|e| format!("dkim.key_file {}: {e}", path.display()))?;
    let algorithm = match config.algorithm.as_str() {
        "rsa" => DkimSigningAlgorithm::Rsa,
        "ed25519" => DkimSigningAlgorithm::Ed25519,
        other => {
            return Err(format!("dkim.algorithm: `{other}` is not `rsa` or `ed25519`"));
        }
    };
    let key = DkimSigningKey::new(key.trim(), algorithm)
        .map_err(|e| format!("dkim.key_file {}: not a usable {} key: {e}", path.display(), config.algorithm))?;
    let headers = vec![
        HeaderName::new_from_ascii_str("From"),
        HeaderName::new_from_ascii_str("To"),
        HeaderName::new_from_ascii_str("Subject"),
        HeaderName::new_from_ascii_str("Date"),
        HeaderName::new_from_ascii_str("Message-ID"),
        LIST_ID,
        LIST_UNSUBSCRIBE,
        LIST_UNSUBSCRIBE_POST,
    ];
    Ok(DkimConfig::new(
        config.selector.clone(),
        config.domain.clone(),
        key,
        headers,
        DkimCanonicalization { header: DkimCanonicalizationType::Relaxed, body: DkimCanonicalizationType::Relaxed },
    ))
}
