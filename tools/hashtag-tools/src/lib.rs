//! The hashtag service's tools, which no Lambda function depends on: the
//! load generator behind `hashtag loadgen`, the generated workload and
//! caption corpus it and the benchmarks draw from, and the DynamoDB
//! write-cost model the pipeline benchmark reports with.

pub mod corpus;
pub mod loadgen;
pub mod workload;
pub mod write_cost;
