//! docs/PROTOCOL.md states every constant of `sotto::protocol`; this test
//! fails when the two drift apart.

use sotto::protocol::*;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md"))
        .unwrap_or_default()
}

fn label(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn labels_are_stated_with_their_lengths() {
    let doc = doc();
    for (name, value) in [
        ("SIGNED_PREKEY_LABEL", SIGNED_PREKEY_LABEL),
        ("X3DH_INFO", X3DH_INFO),
        ("PQXDH_INFO", PQXDH_INFO),
        ("KEM_PREKEY_LABEL", KEM_PREKEY_LABEL),
        ("ROOT_KDF_INFO", ROOT_KDF_INFO),
        ("MESSAGE_KEYS_INFO", MESSAGE_KEYS_INFO),
        ("FINGERPRINT_LABEL", FINGERPRINT_LABEL),
    ] {
        let line = format!("{name} = \"{}\"", label(value));
        assert!(doc.contains(&line), "PROTOCOL.md lacks `{line}`");
        let with_length = format!("{line}   ({} bytes)", value.len());
        assert!(doc.contains(&with_length), "PROTOCOL.md lacks `{with_length}`");
    }
}

#[test]
fn limits_and_versions_are_stated() {
    let doc = doc();
    let table_rows = [
        ("MAX_SKIP", MAX_SKIP as usize),
        ("MAX_SKIPPED_KEYS", MAX_SKIPPED_KEYS),
        ("MAX_RECEIVING_CHAINS", MAX_RECEIVING_CHAINS),
        ("MAX_RETIRED_RATCHET_KEYS", MAX_RETIRED_RATCHET_KEYS),
        ("MAX_PREVIOUS_SESSIONS", MAX_PREVIOUS_SESSIONS),
        ("MAX_PLAINTEXT_LEN", MAX_PLAINTEXT_LEN),
        ("MAX_ENVELOPE_LEN", MAX_ENVELOPE_LEN),
        ("MAX_RECORD_LEN", MAX_RECORD_LEN),
        ("MAX_ACCOUNT_ID_LEN", MAX_ACCOUNT_ID_LEN),
        ("MAX_RETIRED_BASE_KEYS", MAX_RETIRED_BASE_KEYS),
        ("MAX_COMMIT_ATTEMPTS", MAX_COMMIT_ATTEMPTS as usize),
        ("MAX_CIPHERTEXT_LEN", MAX_CIPHERTEXT_LEN),
        ("MIN_CIPHERTEXT_LEN", MIN_CIPHERTEXT_LEN),
        ("MAX_RATCHET_HEADER_LEN", MAX_RATCHET_HEADER_LEN),
        ("MAX_BUNDLE_LEN", MAX_BUNDLE_LEN),
        ("MAX_DECRYPT_WORK", MAX_DECRYPT_WORK as usize),
        ("DH_RATCHET_WORK", DH_RATCHET_WORK as usize),
        ("MAX_ACCEPTED_CALL_OFFERS", MAX_ACCEPTED_CALL_OFFERS),
        ("MAX_CALL_SIGNAL_LEN", MAX_CALL_SIGNAL_LEN),
    ];
    for (name, value) in table_rows {
        let row = format!("| `{name}` | {value} |");
        assert!(doc.contains(&row), "PROTOCOL.md lacks the row `{row}`");
    }
    for line in [
        format!("`WIRE_VERSION` = {WIRE_VERSION}"),
        format!("KEM_ML_KEM_1024 (0x{KEM_ML_KEM_1024:02x}, one byte)"),
        format!("`RECORD_VERSION` = {RECORD_VERSION}"),
        format!("MESSAGE_KEY_SEED = 0x{MESSAGE_KEY_SEED:02x}"),
        format!("CHAIN_KEY_SEED = 0x{CHAIN_KEY_SEED:02x}"),
        format!("FINGERPRINT_ITERATIONS = {FINGERPRINT_ITERATIONS}"),
        format!("SCANNABLE_VERSION (0x{SCANNABLE_VERSION:02x})"),
        format!("`MAX_BUNDLE_LEN` = {MAX_BUNDLE_LEN}"),
        format!("`MAX_RATCHET_HEADER_LEN` = {MAX_RATCHET_HEADER_LEN}"),
        format!("`MIN_CIPHERTEXT_LEN` = {MIN_CIPHERTEXT_LEN}"),
        format!("`MAX_CIPHERTEXT_LEN` = {MAX_CIPHERTEXT_LEN}"),
        format!("`MAX_RETIRED_BASE_KEYS` = {MAX_RETIRED_BASE_KEYS}"),
        format!("`MAX_COMMIT_ATTEMPTS` = {MAX_COMMIT_ATTEMPTS}"),
        format!("`MAX_DECRYPT_WORK` = {MAX_DECRYPT_WORK}"),
        format!("`DH_RATCHET_WORK` = {DH_RATCHET_WORK}"),
    ] {
        assert!(doc.contains(&line), "PROTOCOL.md lacks `{line}`");
    }
}
