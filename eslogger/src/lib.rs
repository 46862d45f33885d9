//! esreplay eslogger (placeholder: see its issue).
