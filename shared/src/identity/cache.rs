//! Verified tokens, remembered until they expire so a repeated token skips the
//! signature check and the userinfo call. Keyed by the token's SHA-256, so the cache
//! never holds a usable token. When full, the least recently used entry goes.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use lru::LruCache;
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
    /// `None` when the capacity is 0: caching is off.
    entries: Option<Mutex<LruCache<TokenHash, Entry>>>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
        }
    }

    pub(crate) fn get(&self, key: &TokenHash, now_ms: i64) -> Option<Principal> {
        let mut entries = self
            .entries
            .as_ref()?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some(entry) if entry.expires_at_ms > now_ms => Some(entry.principal.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified token until `expires_at_ms`, evicting the least recently
    /// used entry when full.
    pub(crate) fn insert(
        &self,
        key: TokenHash,
        principal: Principal,
        expires_at_ms: i64,
        now_ms: i64,
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        if expires_at_ms <= now_ms {
            return;
        }
        entries.lock().unwrap_or_else(PoisonError::into_inner).put(
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
    use crate::entity::EntityRef;

    fn principal(name: &str) -> Principal {
        Principal {
            user: EntityRef::new("user", "default", name).unwrap(),
            groups: vec![EntityRef::parse("group:default/a").unwrap()],
        }
    }

    #[test]
    fn entries_live_until_the_token_expires() {
        let cache = TokenCache::new(2);
        cache.insert(hash("t1"), principal("a"), 1_000, 0);
        assert_eq!(cache.get(&hash("t1"), 999), Some(principal("a")));
        assert_eq!(cache.get(&hash("t1"), 1_000), None, "expired at exp");
        let off = TokenCache::new(0);
        off.insert(hash("t"), principal("a"), 5_000, 0);
        assert_eq!(off.get(&hash("t"), 1), None, "capacity 0 turns caching off");
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_entry_only() {
        let cache = TokenCache::new(3);
        for t in ["t1", "t2", "t3"] {
            cache.insert(hash(t), principal(t), 5_000, 0);
        }
        // t1 is used again, so t2 is now the least recently used.
        assert!(cache.get(&hash("t1"), 1).is_some());
        cache.insert(hash("t4"), principal("t4"), 5_000, 0);
        assert_eq!(cache.get(&hash("t2"), 1), None, "the LRU entry went");
        for t in ["t1", "t3", "t4"] {
            assert_eq!(cache.get(&hash(t), 1), Some(principal(t)), "{t} stays");
        }
    }
}
