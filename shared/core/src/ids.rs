//! Snowflake-style 64-bit ids: time ordered, unique per worker, safe under
//! concurrency and when the wall clock steps back.
//!
//! Layout (most significant first): 1 sign bit (always 0), 41 bits of
//! milliseconds since [`EPOCH_MS`], 10 bits of worker id, 12 bits of sequence.
//! Ids sort by creation time, which lets stores order "most recent first" by id.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 2020-01-01T00:00:00Z in Unix milliseconds; 41 bits of milliseconds last until 2089.
pub const EPOCH_MS: u64 = 1_577_836_800_000;
const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
/// Largest worker id that fits the layout.
pub const MAX_WORKER_ID: u16 = (1 << WORKER_BITS) - 1;
const SEQUENCE_MASK: u64 = (1 << SEQUENCE_BITS) - 1;

/// A 64-bit entity id. In JSON it is written as a string, because JavaScript
/// clients lose precision on integers above 2^53; it is read from either a
/// string or a number so hand-written requests keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub i64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Id {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<i64>().map(Id)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(i64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(Id(n)),
            Raw::Str(s) => s
                .parse()
                .map_err(|_| serde::de::Error::custom("an id must be a 64-bit integer")),
        }
    }
}

/// Source of wall-clock milliseconds; injectable so tests can step the clock back.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Lock-free id generator. Its state is the last issued (timestamp, sequence)
/// pair packed in one atomic word; every id is strictly greater than the
/// previous one. When the clock steps back, the generator keeps counting from
/// its last timestamp instead of waiting or repeating ids.
pub struct IdGenerator {
    worker: u64,
    last: AtomicU64,
    clock: Box<dyn Clock>,
}

impl IdGenerator {
    /// A generator on the system clock. Fails if `worker_id` exceeds [`MAX_WORKER_ID`].
    pub fn new(worker_id: u16) -> Result<Self, String> {
        Self::with_clock(worker_id, Box::new(SystemClock))
    }

    /// A generator on a given clock.
    pub fn with_clock(worker_id: u16, clock: Box<dyn Clock>) -> Result<Self, String> {
        if worker_id > MAX_WORKER_ID {
            return Err(format!(
                "worker id must be 0..={MAX_WORKER_ID}, got {worker_id}"
            ));
        }
        Ok(IdGenerator {
            worker: u64::from(worker_id),
            last: AtomicU64::new(0),
            clock,
        })
    }

    /// The next id.
    pub fn next_id(&self) -> Id {
        let now = self.clock.now_ms().saturating_sub(EPOCH_MS);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let (last_ts, last_seq) = (last >> SEQUENCE_BITS, last & SEQUENCE_MASK);
            let next = if now > last_ts {
                now << SEQUENCE_BITS
            } else if last_seq < SEQUENCE_MASK {
                // Same millisecond, or the clock went back: keep counting.
                last + 1
            } else {
                // Sequence exhausted: borrow the next millisecond.
                (last_ts + 1) << SEQUENCE_BITS
            };
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    let ts = next >> SEQUENCE_BITS;
                    let seq = next & SEQUENCE_MASK;
                    let id = (ts << (WORKER_BITS + SEQUENCE_BITS))
                        | (self.worker << SEQUENCE_BITS)
                        | seq;
                    return Id(id as i64);
                }
                Err(actual) => last = actual,
            }
        }
    }
}

/// Unix milliseconds at which an id was generated.
pub fn id_time_ms(id: Id) -> u64 {
    ((id.0 as u64) >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    struct ManualClock(Arc<Mutex<u64>>);
    impl Clock for ManualClock {
        fn now_ms(&self) -> u64 {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn ids_are_unique_and_increasing_across_threads() {
        let gen = Arc::new(IdGenerator::new(7).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let gen = gen.clone();
                std::thread::spawn(move || {
                    let ids: Vec<Id> = (0..50_000).map(|_| gen.next_id()).collect();
                    assert!(ids.windows(2).all(|w| w[0] < w[1]));
                    ids
                })
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(all.len(), 200_000);
    }

    #[test]
    fn clock_step_back_neither_repeats_nor_goes_backwards() {
        let time = Arc::new(Mutex::new(EPOCH_MS + 10_000));
        let gen = IdGenerator::with_clock(1, Box::new(ManualClock(time.clone()))).unwrap();
        let before: Vec<Id> = (0..10).map(|_| gen.next_id()).collect();
        *time.lock().unwrap() = EPOCH_MS + 5_000; // NTP steps the clock back 5 s
        let after: Vec<Id> = (0..10_000).map(|_| gen.next_id()).collect();
        let all: Vec<Id> = before.into_iter().chain(after).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn id_carries_worker_and_time() {
        let time = Arc::new(Mutex::new(EPOCH_MS + 123_456));
        let gen = IdGenerator::with_clock(1023, Box::new(ManualClock(time))).unwrap();
        let id = gen.next_id();
        assert_eq!(id_time_ms(id), EPOCH_MS + 123_456);
        assert_eq!((id.0 >> SEQUENCE_BITS) & 1023, 1023);
        assert!(IdGenerator::new(1024).is_err());
    }

    #[test]
    fn id_json_is_a_string_and_reads_numbers_too() {
        assert_eq!(
            serde_json::to_string(&Id(i64::MAX)).unwrap(),
            "\"9223372036854775807\""
        );
        assert_eq!(serde_json::from_str::<Id>("42").unwrap(), Id(42));
        assert_eq!(serde_json::from_str::<Id>("\"42\"").unwrap(), Id(42));
        assert!(serde_json::from_str::<Id>("\"x\"").is_err());
    }
}
