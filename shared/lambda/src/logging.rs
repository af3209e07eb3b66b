//! Log set-up for the Lambda functions and the `hashtag` command.
//!
//! Levels come from a `tracing_subscriber::filter::Targets` list
//! (`info`, `hashtag_core=debug,info`, ...) rather than `EnvFilter`, whose regex
//! engine would add about half a megabyte to every Lambda bootstrap for
//! span-field filters nobody here uses.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter named by the first of `variables` that is set and parses,
/// else `info`.
fn targets(variables: &[&str]) -> Targets {
    variables
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find_map(|value| Targets::from_str(&value).ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Logs of a Lambda function, to stdout (CloudWatch), following Lambda's
/// advanced logging controls: `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`) and
/// `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines. No timestamps: CloudWatch
/// adds its own.
pub fn init_lambda() {
    let filter = targets(&["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time();
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
}

/// Logs of the `hashtag` command, to stderr (stdout carries its output),
/// at the level `RUST_LOG` names, else `info`.
pub fn init_cli() {
    tracing_subscriber::registry()
        .with(targets(&["RUST_LOG"]))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_as_targets_lists() {
        let t = Targets::from_str("hashtag_core=debug,warn").unwrap();
        assert_eq!(t.default_level(), Some(LevelFilter::WARN));
        assert!(t.would_enable("hashtag_core::consumer", &tracing::Level::DEBUG));
        assert!(!t.would_enable("rskafka", &tracing::Level::INFO));
        // Lambda's own level names are upper case.
        assert_eq!(
            Targets::from_str("DEBUG").unwrap().default_level(),
            Some(LevelFilter::DEBUG)
        );
    }
}
