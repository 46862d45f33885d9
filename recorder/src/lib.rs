//! esreplay recorder (placeholder: see its issue).
