//! The prefilter's search: every literal in a text, ASCII case-insensitively,
//! leftmost-longest (the hits do not overlap; at one start the longest literal wins).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// One literal found: its index among the literals and its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) pattern: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A set of literals to search for.
#[derive(Debug)]
pub(crate) struct Literals {
    ac: AhoCorasick,
}

impl Literals {
    pub(crate) fn new(literals: &[String]) -> Result<Self, String> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(literals)
            .map_err(|e| e.to_string())?;
        Ok(Self { ac })
    }

    /// The hits in `text`, in order.
    pub(crate) fn find_iter<'t>(&'t self, text: &'t str) -> impl Iterator<Item = Hit> + 't {
        self.ac.find_iter(text).map(|m| Hit {
            pattern: m.pattern().as_usize(),
            start: m.start(),
            end: m.end(),
        })
    }
}
