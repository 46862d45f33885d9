//! The lab (placeholder).
#![warn(missing_docs)]
