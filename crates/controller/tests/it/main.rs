//! Controller integration tests.
