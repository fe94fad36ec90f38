//! Decoders for kubelet payloads (owned by the decode work).
