//! esreplay simulator (placeholder: see its issue).
