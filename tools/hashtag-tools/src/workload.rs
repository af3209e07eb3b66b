//! A realistic, reproducible stream of posts for load tests and benchmarks:
//! tag popularity follows a Zipf law over a vocabulary in several scripts,
//! posts carry 0-30 tags (most carry few), captions mix words, mentions,
//! emoji and case variants of the same tag. The load generator sends it to
//! a server and the pipeline benchmark feeds it to the consumer, so both
//! measure the same stream.

use crate::corpus::Rng;
use hashtag_core::domain::{rfc3339_ms, PostEvent, MAX_CAPTION_TAGS};
use hashtag_core::ids::{id_time_ms, Id};
use hashtag_core::partition::partition_for;
use hashtag_core::record::LogRecord;

/// Tags of the first popularity ranks, as real services see them at the top.
const HEAD: &[&str] = &[
    "love",
    "instagood",
    "photooftheday",
    "travel",
    "food",
    "東京",
    "Москва",
    "rust",
    "café",
    "서울",
    "नमस्ते",
    "straße",
];

/// Syllables per script; a generated tag spells its rank in one script, in
/// bijective base-N numeration, so distinct ranks give distinct tags.
const SCRIPTS: &[&[&str]] = &[
    &[
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "vo", "ba", "de", "fu", "gi", "ho", "ju", "pe",
        "zy",
    ],
    &["ла", "мо", "ки", "ну", "ра", "ст", "ве", "до"],
    &["星", "森", "山", "川", "花", "夜", "空", "海"],
    &["さ", "く", "ら", "ゆ", "め", "ひ", "か", "り"],
    &["한", "국", "산", "강", "바", "다", "하", "늘"],
    &["क", "म", "ल", "न", "र", "स", "त", "प"],
    &["ص", "ب", "ا", "ح", "ن", "و", "ر", "م"],
    &["é", "ü", "ñ", "ø", "ç", "å", "ß", "œ"],
];

const WORDS: &[&str] = &[
    "sunset",
    "at",
    "the",
    "beach",
    "with",
    "friends",
    "today",
    "новый",
    "день",
    "今日は",
    "最高",
    "so",
    "good",
    "🌅",
    "🔥",
    "❤️",
    "🦀",
    "wow",
    "😂",
    "best",
    "weekend",
    "ever",
    "coffee",
];

/// The stream's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Distinct tags to draw from.
    pub vocabulary: usize,
    /// Zipf exponent of tag popularity (1.0: the k-th tag is k times rarer
    /// than the first).
    pub zipf: f64,
    /// Seed of the whole stream.
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            vocabulary: 10_000,
            zipf: 1.0,
            seed: 2026,
        }
    }
}

/// The tag of popularity rank `rank` (0 is the most popular).
pub fn tag(rank: usize) -> String {
    if let Some(head) = HEAD.get(rank) {
        return (*head).to_string();
    }
    let rank = rank - HEAD.len();
    let syllables = SCRIPTS[rank % SCRIPTS.len()];
    // Bijective base-N: every number has exactly one spelling.
    let mut n = rank / SCRIPTS.len() + 1;
    let mut out = String::new();
    while n > 0 {
        n -= 1;
        out.push_str(syllables[n % syllables.len()]);
        n /= syllables.len();
    }
    out
}

/// One generated post: its author (an index into the users) and caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPost {
    /// Index of the author among the generated users.
    pub author: usize,
    /// The caption.
    pub caption: String,
}

/// Friends per author: each author mentions people of their own circle,
/// some far more often than others, as in real mention graphs (where most
/// of a user's mentions go to a few accounts).
const CIRCLE: usize = 20;

/// The friend a draw of 0..1000 picks in `author`'s circle: the draw's
/// square skews it towards the circle's first members. Friends are named
/// `friend_<n>`, n below 1000, unregistered (the graph keeps them).
fn friend_of(author: usize, draw: usize) -> usize {
    let member = draw * draw * CIRCLE / 1_000_000;
    (author * 37 + member * 101) % 1000
}

/// An endless, deterministic stream of posts of a [`Shape`].
pub struct Workload {
    rng: Rng,
    /// Cumulative Zipf weights, normalised to end at 1.
    cdf: Vec<f64>,
    tags: Vec<String>,
    users: usize,
}

impl Workload {
    /// A stream over `users` authors (at least 1).
    pub fn new(shape: Shape, users: usize) -> Self {
        let vocabulary = shape.vocabulary.max(1);
        let mut cdf = Vec::with_capacity(vocabulary);
        let mut total = 0.0;
        for k in 1..=vocabulary {
            total += 1.0 / (k as f64).powf(shape.zipf);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Workload {
            rng: Rng::new(shape.seed),
            cdf,
            tags: (0..vocabulary).map(tag).collect(),
            users: users.max(1),
        }
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A popularity rank drawn from the Zipf law.
    fn rank(&mut self) -> usize {
        let u = self.uniform();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }

    /// The next post. Tags per post are `floor(31 u²)`: 0 to 30, mean about
    /// 10, most posts carrying few; a draw may repeat a tag, which the
    /// caption then repeats (it counts once), sometimes in another casing.
    pub fn next_post(&mut self) -> GeneratedPost {
        let u = self.uniform();
        let tags = ((31.0 * u * u) as usize).min(MAX_CAPTION_TAGS);
        let mut caption = String::new();
        for _ in 0..1 + self.rng.below(6) {
            caption.push_str(self.rng.pick(WORDS));
            caption.push(' ');
        }
        // One post in four mentions a friend; drawn now, named once the
        // author is known (the draws stay in the same order).
        let friend = (self.rng.below(4) == 0).then(|| (caption.len(), self.rng.below(1000)));
        for _ in 0..tags {
            let rank = self.rank();
            caption.push('#');
            match self.rng.below(10) {
                0 => caption.push_str(&self.tags[rank].to_uppercase()),
                _ => caption.push_str(&self.tags[rank]),
            }
            caption.push(' ');
        }
        caption.pop();
        let author = self.rng.below(self.users);
        if let Some((at, draw)) = friend {
            let mention = format!("with @friend_{}", friend_of(author, draw));
            match at < caption.len() {
                true => caption.insert_str(at, &format!("{mention} ")),
                // No tag followed: the caption ended where the mention goes.
                false => caption.push_str(&format!(" {mention}")),
            }
        }
        GeneratedPost { author, caption }
    }
}

/// `posts` posts of the default [`Shape`] from `users` authors (named
/// `user<n>`), as post events keyed by author over `partitions` partitions
/// as the producer keys them, post ids from `first_id` up: the stream in
/// delivery order (partitions interleaved, each in offset order), what the
/// consumer benchmarks feed their handlers.
pub fn post_records(posts: usize, users: usize, partitions: u32, first_id: i64) -> Vec<LogRecord> {
    let mut workload = Workload::new(Shape::default(), users);
    let mut next_offset = vec![0i64; partitions as usize];
    let mut records: Vec<LogRecord> = (0..posts)
        .map(|i| {
            let post = workload.next_post();
            let post_id = Id(first_id + i as i64 * 4096);
            let event = PostEvent {
                post_id,
                user_id: Id(first_id - 1 - post.author as i64),
                author: format!("user{}", post.author),
                caption: post.caption,
                image_url: format!("/images/{post_id}.svg"),
                created_at: rfc3339_ms(id_time_ms(post_id) as i64),
            };
            let key = event.user_id.0.to_string().into_bytes();
            let partition = partition_for(&key, partitions);
            let offset = next_offset[partition as usize];
            next_offset[partition as usize] += 1;
            LogRecord {
                partition,
                offset,
                key: Some(key),
                value: serde_json::to_vec(&event).expect("event serialises"),
                timestamp_ms: 0,
            }
        })
        .collect();
    records.sort_by_key(|r| (r.offset, r.partition));
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashtag_core::domain::validate_caption;
    use hashtag_core::extract::{distinct_tags, hashtags, tag_key};
    use std::collections::{HashMap, HashSet};

    #[test]
    fn tags_are_distinct_single_hashtags_in_every_script() {
        let tags: Vec<String> = (0..20_000).map(tag).collect();
        let keys: HashSet<String> = tags.iter().map(|t| tag_key(t)).collect();
        assert_eq!(keys.len(), tags.len(), "two ranks share a tag key");
        for t in tags.iter().step_by(97) {
            let caption = format!("x #{t} y");
            let found = distinct_tags(&caption);
            assert_eq!(found.len(), 1, "{t:?} is not one whole hashtag");
            assert_eq!(found[0].1, t.as_str());
        }
    }

    #[test]
    fn posts_are_valid_with_0_to_30_zipf_distributed_tags() {
        let mut w = Workload::new(Shape::default(), 50);
        let (mut draws, mut per_post) = (HashMap::new(), Vec::new());
        for _ in 0..20_000 {
            let post = w.next_post();
            validate_caption(&post.caption).unwrap();
            assert!(post.author < 50);
            per_post.push(distinct_tags(&post.caption).len());
            for t in hashtags(&post.caption) {
                *draws.entry(tag_key(t)).or_insert(0usize) += 1;
            }
        }
        assert!(per_post.iter().all(|&n| n <= 30));
        assert!(per_post.contains(&0) && per_post.iter().any(|&n| n >= 25));
        let mean = per_post.iter().sum::<usize>() as f64 / per_post.len() as f64;
        assert!((8.0..12.0).contains(&mean), "mean tags per post {mean}");
        // Zipf with s = 1: the top tag drawn about twice as often as the
        // second, ten times as often as the tenth.
        let top = draws[&tag_key(&tag(0))] as f64;
        let second = draws[&tag_key(&tag(1))] as f64;
        let tenth = draws[&tag_key(&tag(9))] as f64;
        assert!((1.6..2.5).contains(&(top / second)), "{top} / {second}");
        assert!((7.0..14.0).contains(&(top / tenth)), "{top} / {tenth}");
        // Same seed, same stream.
        let again = Workload::new(Shape::default(), 50).next_post();
        assert_eq!(again, Workload::new(Shape::default(), 50).next_post());
    }
}
