//! Record id literals: 15-character ids are widened to the 18-character case-safe form (§2.5), so
//! filters compare one spelling.

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 18-character form of a 15- or 18-character alphanumeric id; `None` if `id` is not one.
pub fn widen_id(id: &str) -> Option<String> {
    if !id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        18 => Some(id.to_string()),
        15 => {
            let mut widened = String::with_capacity(18);
            widened.push_str(id);
            for chunk in id.as_bytes().chunks(5) {
                let bits = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, byte)| byte.is_ascii_uppercase())
                    .fold(0usize, |sum, (position, _)| sum | (1 << position));
                widened.push(char::from(CHECKSUM_ALPHABET[bits]));
            }
            Some(widened)
        }
        _ => None,
    }
}

/// Compares a stored 18-character id with a widened literal. The first 15 characters are
/// case-sensitive; the checksum suffix is not (clients sometimes lower-case it).
pub fn ids_equal(stored: &str, literal: &str) -> bool {
    stored.len() == literal.len()
        && stored.len() >= 15
        && stored.as_bytes()[..15] == literal.as_bytes()[..15]
        && stored[15..].eq_ignore_ascii_case(&literal[15..])
}
