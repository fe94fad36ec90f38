//! The metric store (owned by the store work).
