//! The hashtag service's library: domain rules, ports, the handlers shared by
//! the Lambda functions and the single-machine server, and the embedded
//! adapters that let the whole service run on one machine.

pub mod aggregate;
pub mod aws;
pub mod consumer;
pub mod corpus;
pub mod domain;
pub mod embedded;
pub mod extract;
pub mod http;
pub mod ids;
pub mod lambda;
pub mod loadgen;
pub mod logging;
pub mod metrics;
pub mod partition;
pub mod ports;
pub mod reconcile;
pub mod server;
pub mod workload;
