//! Encoders (in progress).
