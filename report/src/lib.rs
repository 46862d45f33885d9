//! Pictures of esreplay simulations, for people: where the backlog built
//! up, which messages ran out of slack, how each design behaves over the
//! same burst.
//!
//! - [`series`]: a run downsampled to at most [`BUCKETS`] time buckets
//!   (worst latency, least slack, largest backlog), in bounded memory;
//! - [`svg`]: line charts as plain SVG text;
//! - [`mod@figures`]: the charts of a report, on shared axes;
//! - [`html`]: the self-contained HTML report (inline CSS and SVG only);
//! - [`chrome`]: Chrome trace event JSON, for the Perfetto UI;
//!
//! The crate knows nothing of the simulator: the `esreplay` command feeds
//! it numbers (it depends on this crate, so this crate cannot depend on
//! it). Everything it writes is a pure function of its input: no clock, no
//! random ids.
//!
//! # Example
//!
//! ```
//! use esreplay_report::{figures, Run, Series};
//!
//! let mut series = Series::new();
//! for t in 0..10_000u64 {
//!     // (arrival, latency, slack, missed), reported in any order.
//!     series.message(t * 1_000, Some(t * 10), Some(50_000 - t as i64 * 10), t > 5_000);
//!     series.backlog(t * 1_000, t / 100);
//! }
//! let mut runs = vec![Run { name: "inline".into(), series, first_miss: None }];
//! let charts = figures(&mut runs);
//! let svg = charts.per_run[0][0].svg();
//! assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
//! assert!(runs[0].series.buckets().len() <= esreplay_report::BUCKETS);
//! ```
#![warn(missing_docs)]

pub mod chrome;
pub mod figures;
pub mod html;
pub mod series;
pub mod svg;

pub use chrome::{ChromeTrace, Scope};
pub use figures::{Figures, Run, figures};
pub use html::{Page, Table, Verdict};
pub use series::{BUCKETS, Bucket, Series};
pub use svg::{Chart, Line, Marker, Unit};
