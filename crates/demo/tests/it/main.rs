//! Demo tests.
