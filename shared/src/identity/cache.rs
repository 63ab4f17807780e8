//! Verified tokens, remembered until they expire so a repeated token skips the
//! signature check and the userinfo call. Keyed by the token's SHA-256, so the cache
//! never holds a usable token.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::Principal;

pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug)]
struct Entry {
    principal: Principal,
    expires_at_ms: i64,
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<TokenHash, Entry>>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &TokenHash, now_ms: i64) -> Option<Principal> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some(entry) if entry.expires_at_ms > now_ms => Some(entry.principal.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified token until `expires_at_ms`. When full, expired entries go
    /// first; if that frees nothing, everything does (re-verifying is only slower).
    pub(crate) fn insert(
        &self,
        key: TokenHash,
        principal: Principal,
        expires_at_ms: i64,
        now_ms: i64,
    ) {
        if self.capacity == 0 || expires_at_ms <= now_ms {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| e.expires_at_ms > now_ms);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                principal,
                expires_at_ms,
            },
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Principal {
        Principal {
            user: format!("user:default/{name}"),
            groups: vec!["group:default/a".into()],
        }
    }

    #[test]
    fn entries_live_until_the_token_expires_and_the_size_is_bounded() {
        let cache = TokenCache::new(2);
        cache.insert(hash("t1"), principal("a"), 1_000, 0);
        assert_eq!(cache.get(&hash("t1"), 999), Some(principal("a")));
        assert_eq!(cache.get(&hash("t1"), 1_000), None, "expired at exp");
        cache.insert(hash("t2"), principal("b"), 5_000, 0);
        cache.insert(hash("t3"), principal("c"), 5_000, 0);
        cache.insert(hash("t4"), principal("d"), 5_000, 0);
        let held = ["t2", "t3", "t4"]
            .iter()
            .filter(|t| cache.get(&hash(t), 1).is_some())
            .count();
        assert!(held <= 2, "capacity respected: {held}");
        assert!(
            cache.get(&hash("t4"), 1).is_some(),
            "the newest entry is kept"
        );
        let off = TokenCache::new(0);
        off.insert(hash("t"), principal("a"), 5_000, 0);
        assert_eq!(off.get(&hash("t"), 1), None);
    }
}
