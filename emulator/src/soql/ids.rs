//! Record id literals: 15-character ids are widened to the 18-character case-safe form (Salesforce Help: 15- and 18-character record IDs), so
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

/// An order consistent with [`ids_equal`]: length, then the case-sensitive 15-character prefix,
/// then the suffix ignoring case.
pub fn id_order(left: &str, right: &str) -> std::cmp::Ordering {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    let split = |id: &[u8]| id.len().min(15);
    let (left_prefix, left_suffix) = left.split_at(split(left));
    let (right_prefix, right_suffix) = right.split_at(split(right));
    left.len()
        .cmp(&right.len())
        .then_with(|| left_prefix.cmp(right_prefix))
        .then_with(|| upper_bytes(left_suffix).cmp(upper_bytes(right_suffix)))
}

fn upper_bytes(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().map(u8::to_ascii_uppercase)
}
