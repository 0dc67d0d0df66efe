//! Collector integration tests.
