//! Property tests of the queue model.
