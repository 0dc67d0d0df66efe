//! Tests of the benchmark harness: structure and accounting, not scores.

mod accounting;
mod harness;
