//! Differential test: `hashtag extract` against twitter-text (npm), the
//! reference implementation, on the same generated captions plus the rule
//! examples. Needs node and `tools/oracle` installed (scripts/test does it).
//!
//! Every generated caption is compared, URLs included: a hashtag inside a
//! URL that twitter-text recognises is dropped by both.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn run(mut cmd: Command, input: &str) -> Vec<serde_json::Value> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Generated captions compared on every run, and their seed. To search
/// wider, set `ORACLE_CAPTIONS` and `ORACLE_SEED`.
const CAPTIONS: usize = 100_000;
const SEED: u64 = 2026;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

#[test]
fn extraction_matches_twitter_text() {
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/oracle");
    assert!(
        oracle.join("node_modules/twitter-text").exists(),
        "the twitter-text oracle is not installed: run scripts/test (it runs npm ci in tools/oracle)"
    );
    let mut texts: Vec<String> = [
        "日本語ハッシュタグ#日本語",
        "テスト。#日本語",
        "#महात्मा_१२३४",
        "#ශ්‍රීලංකා",
        "#il·lusió",
        "#16 #_ #1_2 #1hashtag",
        "http://example.com/#anchor",
        "#http://example.com",
        "@aliceìnheiro",
        "RT@x",
        "@a@b",
        "＃全角 ＠全角",
        "#ＲＵＳＴ",
        "##rust",
        "#a#b",
        "x RT:@y",
        "@user/list-name",
        "#tag\u{fe0f}#next",
        "example.com/#anchor",
        "see www.example.com/#top #after",
        "example.com?q=#tag",
        "🚀-example.com/#a",
        "#il·lusió.com/#x",
        "https://t.co/abc#frag",
        "http://пример.рф/#тег",
        "café.com/#à",
        "http://🦀＃tag.com ＃x",
        "go x.com:80#a x.com/a(b)#c a.com/x?y #z",
        "a.com/x b.com/#y\t#z",
        "http://a.com/–(love/@#1hashtag)🦀 http://a.com/x(a)–(b)#c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let captions = setting("ORACLE_CAPTIONS", CAPTIONS as u64) as usize;
    texts.extend(hashtag_tools::corpus::captions(
        setting("ORACLE_SEED", SEED),
        captions,
    ));
    let input: String = texts
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
        .collect();

    let mut node = Command::new("node");
    node.arg(oracle.join("extract.js"));
    let expected = run(node, &input);
    let mut ours = Command::new(env!("CARGO_BIN_EXE_hashtag"));
    ours.arg("extract");
    let actual = run(ours, &input);
    assert_eq!(expected.len(), texts.len());
    assert_eq!(actual.len(), texts.len());

    let mismatches: Vec<String> = expected
        .iter()
        .zip(&actual)
        .filter(|(e, a)| e["hashtags"] != a["hashtags"] || e["mentions"] != a["mentions"])
        .map(|(e, a)| {
            format!(
                "{}\n  twitter-text: {} {}\n  ours:         {} {}",
                serde_json::to_string(&e["text"]).unwrap(),
                e["hashtags"],
                e["mentions"],
                a["hashtags"],
                a["mentions"]
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} captions differ; first ones:\n{}",
        mismatches.len(),
        texts.len(),
        mismatches
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
