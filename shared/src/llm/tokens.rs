//! Token counting with OpenAI's o200k_base encoding (embedded in `tiktoken-rs`; nothing
//! is downloaded). Other providers tokenise differently, so the budget is an estimate
//! for them; the prompt builder keeps a margin.

use std::borrow::Cow;

use tiktoken_rs::CoreBPE;

fn bpe() -> &'static CoreBPE {
    tiktoken_rs::o200k_base_singleton()
}

/// Loads the encoding now rather than on the first call that counts (it takes a
/// noticeable moment, better spent at start-up than inside the step's deadline).
pub fn warm_up() {
    let _ = bpe();
}

/// Tokens in `text`.
pub fn count(text: &str) -> usize {
    bpe().count_ordinary(text)
}

/// `text` cut to at most `max` tokens, with `…` marking the cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    let tokens = bpe().encode_ordinary(text);
    if tokens.len() <= max {
        return Cow::Borrowed(text);
    }
    // One token for the marker; a cut inside a multi-byte character loses that character.
    let keep = &tokens[..max.saturating_sub(1)];
    let bytes = bpe().decode_bytes(keep).unwrap_or_default();
    let mut out = String::from_utf8_lossy(&bytes)
        .trim_end_matches('\u{fffd}')
        .to_owned();
    out.push('…');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_truncates_by_tokens() {
        assert_eq!(count(""), 0);
        assert!(count("hello world") <= 3);
        let long = "connection refused to postgres.internal:5432 ".repeat(50);
        let cut = truncate(&long, 20);
        assert!(count(&cut) <= 20, "{}", count(&cut));
        assert!(cut.ends_with('…'));
        assert!(matches!(truncate("short", 20), Cow::Borrowed("short")));
    }
}
