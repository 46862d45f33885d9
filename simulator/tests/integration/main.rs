//! The simulator's integration tests: hand-computed cases for every
//! strategy (`cases`), DESIGN.md's counterexamples (`counterexamples`),
//! and property tests against theory and a naive reference (`properties`).

mod cases;
mod counterexamples;
mod properties;
mod reference;
mod support;
