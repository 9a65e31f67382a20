//! DKIM signing (RFC 6376) with lettre's `dkim` feature.
//!
//! The signed headers include both List-Unsubscribe headers: RFC 8058 §3 requires them to be
//! covered by a valid DKIM signature for one-click unsubscription to be honoured.

use std::path::Path;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;

use super::SettingsError;
use super::message::{LIST_ID, LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST};
use crate::config;

/// Loads the signing configuration; errors name the key file.
pub fn load(root: &Path, config: &config::DkimConfig) -> Result<DkimConfig, SettingsError> {
    let path = root.join(&config.key_file);
    let key =
        std::fs::read_to_string(&path).map_err(|source| SettingsError::DkimKeyFile { path: path.clone(), source })?;
    let algorithm = match config.algorithm.as_str() {
        "rsa" => DkimSigningAlgorithm::Rsa,
        "ed25519" => DkimSigningAlgorithm::Ed25519,
        other => {
            return Err(SettingsError::DkimAlgorithm(other.to_owned()));
        }
    };
    let key = DkimSigningKey::new(key.trim(), algorithm).map_err(|e| SettingsError::DkimKey {
        path,
        algorithm: config.algorithm.clone(),
        problem: e.to_string(),
    })?;
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
