//! Fixed-window rate limits kept in the process: login failures per
//! account and per client address, writes per account. On AWS each Lambda
//! container keeps its own (the HTTP API's stage throttling bounds the
//! whole); `hashtag serve` is one process, so its limits are exact.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys kept before old windows are swept, so that a flood of distinct
/// keys cannot grow the map without bound.
const SWEEP_AT: usize = 100_000;

/// At most `limit` events per key in each window of `window_ms`.
pub struct RateLimit {
    limit: u32,
    window_ms: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimit {
    /// A limit of `limit` events per `window_ms`; 0 means no limit.
    pub fn new(limit: u32, window_ms: i64) -> Self {
        RateLimit {
            limit,
            window_ms,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The events allowed per window (0: no limit).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Counts one event of `key` at `now_ms` if its window has room;
    /// otherwise how long until it has. One lock for both, so that
    /// concurrent requests cannot all pass a check made before any counts.
    pub fn take(&self, key: &str, now_ms: i64) -> Result<(), i64> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now_ms < *start + self.window_ms);
        }
        let entry = windows.entry(key.to_string()).or_insert((now_ms, 0));
        if now_ms >= entry.0 + self.window_ms {
            *entry = (now_ms, 0);
        }
        if entry.1 >= self.limit {
            return Err(entry.0 + self.window_ms - now_ms);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back an event [`take`](Self::take) counted: a sign-in that
    /// succeeded is no failure.
    pub fn give_back(&self, key: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = windows.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_event_in_a_window_waits_for_the_next() {
        let limit = RateLimit::new(10, 60_000);
        for i in 0..10 {
            assert_eq!(limit.take("ann", 1_000 + i), Ok(()));
        }
        assert_eq!(limit.take("ann", 2_000), Err(59_000));
        assert_eq!(limit.take("bob", 2_000), Ok(()), "each key has its own");
        assert_eq!(limit.take("ann", 61_000), Ok(()), "a new window");
        assert_eq!(RateLimit::new(0, 1).take("x", 0), Ok(()), "0: no limit");
        limit.give_back("ann");
        assert_eq!(limit.take("ann", 61_001), Ok(()), "one given back");
    }
}
