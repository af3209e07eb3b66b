//! The hashtag service's core, without I/O: domain rules, extraction, ids,
//! aggregation, the ports the adapters implement, and the use cases that
//! own the sequences (register, create a post, count a batch, apply a
//! ranking, relay the outbox, reconcile). The HTTP layer, the Lambda edge,
//! the single-machine server and the adapters all build on it.

pub mod aggregate;
pub mod consumer;
pub mod domain;
pub mod extract;
pub mod history;
pub mod ids;
pub mod mention_import;
pub mod mentions;
pub mod metrics;
pub mod partition;
pub mod popularity;
pub mod ports;
pub mod reactions;
pub mod reconcile;
pub mod record;
pub mod trends;
pub mod usecases;
pub mod windows;
