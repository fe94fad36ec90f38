//! Command-line flags (in progress).
