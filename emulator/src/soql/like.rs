//! SOQL `LIKE` patterns: `%` any run, `_` one character, `\%` and `\_` literal, case-insensitive.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A literal character, already lower-cased.
    Literal(char),
    /// `_`
    One,
    /// `%`
    Any,
}

/// A compiled LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    pieces: Vec<Piece>,
    ascii: bool,
}

impl LikePattern {
    /// Compiles the text between the quotes as written (escapes not yet resolved), so an escaped
    /// `\%` stays a literal percent sign.
    pub fn compile(raw: &str) -> LikePattern {
        let mut pieces = Vec::new();
        let mut chars = raw.chars();
        while let Some(character) = chars.next() {
            let piece = match character {
                '%' => Piece::Any,
                '_' => Piece::One,
                '\\' => match chars.next() {
                    Some('n') | Some('N') => Piece::Literal('\n'),
                    Some('r') | Some('R') => Piece::Literal('\r'),
                    Some('t') | Some('T') => Piece::Literal('\t'),
                    Some('b') | Some('B') => Piece::Literal('\u{8}'),
                    Some('f') | Some('F') => Piece::Literal('\u{c}'),
                    Some(other) => Piece::Literal(lower(other)),
                    None => Piece::Literal('\\'),
                },
                other => Piece::Literal(lower(other)),
            };
            // Consecutive `%` mean the same as one; collapsing them keeps matching linear in practice.
            if piece == Piece::Any && pieces.last() == Some(&Piece::Any) {
                continue;
            }
            pieces.push(piece);
        }
        let ascii = pieces
            .iter()
            .all(|piece| !matches!(piece, Piece::Literal(character) if !character.is_ascii()));
        LikePattern { pieces, ascii }
    }

    /// True if `text` matches the whole pattern, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        if self.ascii && text.is_ascii() {
            return self.match_units(text.as_bytes(), |byte| {
                char::from(byte.to_ascii_lowercase())
            });
        }
        let chars: Vec<char> = text.chars().collect();
        self.match_units(&chars, lower)
    }

    /// Greedy wildcard matching with backtracking to the last `%`.
    fn match_units<T: Copy>(&self, text: &[T], to_lower: impl Fn(T) -> char) -> bool {
        let pieces = &self.pieces;
        let (mut text_at, mut piece_at) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while text_at < text.len() {
            let step = match pieces.get(piece_at) {
                Some(Piece::Any) => {
                    backtrack = Some((piece_at, text_at));
                    piece_at += 1;
                    continue;
                }
                Some(Piece::One) => true,
                Some(Piece::Literal(expected)) => *expected == to_lower(text[text_at]),
                None => false,
            };
            if step {
                text_at += 1;
                piece_at += 1;
            } else if let Some((star_piece, star_text)) = backtrack {
                piece_at = star_piece + 1;
                text_at = star_text + 1;
                backtrack = Some((star_piece, star_text + 1));
            } else {
                return false;
            }
        }
        pieces[piece_at..].iter().all(|piece| *piece == Piece::Any)
    }
}

fn lower(character: char) -> char {
    character.to_lowercase().next().unwrap_or(character)
}
