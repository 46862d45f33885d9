//! The simulator's integration tests: hand-computed cases for every
//! strategy and the model's counterexamples (`cases`), and property tests
//! against theory and a naive reference implementation (`properties`,
//! `reference`).

mod cases;
mod closed;
mod machine;
mod properties;
mod reference;
mod support;
