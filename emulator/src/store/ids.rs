//! Salesforce record ids: 15-character case-sensitive base-62 ids and their 18-character case-safe form.

use std::fmt;

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The pod/instance part of every id this emulator generates (characters 4-6 of an id).
pub const POD: &str = "8E0";

/// An 18-character record id. Two ids are equal exactly when their case-sensitive 15-character parts are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 18]);

impl RecordId {
    /// Parses a 15- or 18-character id. An 18-character id must carry the checksum of its first 15 characters
    /// (compared case-insensitively, as Salesforce does).
    pub fn parse(text: &str) -> Option<RecordId> {
        let bytes = text.as_bytes();
        if (bytes.len() != 15 && bytes.len() != 18) || !bytes.iter().all(u8::is_ascii_alphanumeric)
        {
            return None;
        }
        let mut first15 = [0u8; 15];
        first15.copy_from_slice(&bytes[..15]);
        let id = RecordId::from_15(&first15);
        if bytes.len() == 18 && !bytes[15..].eq_ignore_ascii_case(&id.0[15..]) {
            return None;
        }
        Some(id)
    }

    /// Builds the 18-character form of a 15-character id.
    pub fn from_15(first15: &[u8; 15]) -> RecordId {
        let mut full = [0u8; 18];
        full[..15].copy_from_slice(first15);
        full[15..].copy_from_slice(&checksum(first15));
        RecordId(full)
    }

    /// Builds the id number `serial` of an object with the given 3-character key prefix.
    pub fn generate(key_prefix: &str, serial: u64) -> RecordId {
        let mut first15 = [b'0'; 15];
        first15[..3].copy_from_slice(&key_prefix.as_bytes()[..3]);
        first15[3..6].copy_from_slice(POD.as_bytes());
        let mut rest = serial;
        for slot in first15[6..].iter_mut().rev() {
            *slot = BASE62[(rest % 62) as usize];
            rest /= 62;
        }
        RecordId::from_15(&first15)
    }

    pub fn as_str(&self) -> &str {
        // Invariant: only ASCII alphanumerics are ever stored.
        std::str::from_utf8(&self.0).expect("record ids are ASCII")
    }

    /// The 3-character key prefix naming the object.
    pub fn key_prefix(&self) -> &str {
        &self.as_str()[..3]
    }

    /// The 15-character case-sensitive form.
    pub fn short(&self) -> &str {
        &self.as_str()[..15]
    }
}

/// The 3-character case-safe suffix of a 15-character id (Salesforce Help: 15- and 18-character record IDs).
pub fn checksum(first15: &[u8; 15]) -> [u8; 3] {
    let mut suffix = [0u8; 3];
    for (chunk_index, chunk) in first15.chunks(5).enumerate() {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        suffix[chunk_index] = CHECKSUM_ALPHABET[bits];
    }
    suffix
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_pairs_match() {
        for (short, long) in [
            ("a0RE000000IJmcN", "a0RE000000IJmcNMAT"),
            ("001M000000qfPyS", "001M000000qfPySIAU"),
        ] {
            let id = RecordId::parse(short).expect("valid id");
            assert_eq!(id.as_str(), long);
            assert_eq!(RecordId::parse(long), Some(id));
            assert_eq!(
                RecordId::parse(&long.to_ascii_lowercase()[..15]).map(|i| i == id),
                Some(false)
            );
        }
    }

    #[test]
    fn generated_ids_round_trip() {
        let id = RecordId::generate("001", 123_456);
        assert_eq!(id.key_prefix(), "001");
        assert_eq!(RecordId::parse(id.as_str()), Some(id));
        assert_eq!(RecordId::parse(id.short()), Some(id));
        assert_ne!(RecordId::generate("001", 1), RecordId::generate("001", 2));
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(RecordId::parse("001"), None);
        assert_eq!(RecordId::parse("001M000000qfPySXXX"), None);
        assert_eq!(RecordId::parse("001M000000qfPy-"), None);
    }
}
