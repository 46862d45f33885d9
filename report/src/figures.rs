//! From downsampled runs ([`Series`]) to charts ([`Chart`]): two overview
//! charts with every strategy overlaid on one scale (to compare them at a
//! glance), then a latency, a slack and a backlog chart per strategy, each
//! scaled to its own values (to see its detail). All charts of one report
//! share their time axis.

use crate::series::{Bucket, Series};
use crate::svg::{Chart, Line, Marker, Unit};

/// Colours of the overlaid strategies, in order (then repeated).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// One strategy's run, ready to be drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The strategy as asked (`pool:4`).
    pub name: String,
    /// Its outcomes, downsampled.
    pub series: Series,
    /// The first miss, marked on its charts.
    pub first_miss: Option<Marker>,
}

/// The charts of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Every strategy's worst latency, overlaid.
    pub latency_overview: Chart,
    /// Every strategy's backlog, overlaid.
    pub backlog_overview: Chart,
    /// Per run, in order: latency, slack, backlog.
    pub per_run: Vec<[Chart; 3]>,
}

impl Figures {
    /// Every chart as (file name, SVG text), for `--svg DIR`: the
    /// overviews, then `N-STRATEGY-latency.svg`, `N-STRATEGY-slack.svg` and
    /// `N-STRATEGY-backlog.svg` per run (N from 1, the strategy with anything but letters and digits
    /// turned into `-`).
    pub fn svg_files(&self, names: &[String]) -> Vec<(String, String)> {
        let mut files = vec![
            (
                "overview-latency.svg".to_owned(),
                self.latency_overview.svg(),
            ),
            (
                "overview-backlog.svg".to_owned(),
                self.backlog_overview.svg(),
            ),
        ];
        for (i, (charts, name)) in self.per_run.iter().zip(names).enumerate() {
            let slug: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            for (chart, what) in charts.iter().zip(["latency", "slack", "backlog"]) {
                files.push((format!("{}-{slug}-{what}.svg", i + 1), chart.svg()));
            }
        }
        files
    }
}

/// Points of one bucket field, at bucket midpoints, skipping empty buckets.
fn points(series: &Series, pick: impl Fn(&Bucket) -> Option<f64>) -> Vec<(u64, f64)> {
    let width = series.width_ns();
    (0u64..)
        .zip(series.buckets())
        .filter_map(|(i, bucket)| {
            let mid = i.saturating_mul(width).saturating_add(width / 2);
            pick(bucket).map(|value| (mid, value))
        })
        .collect()
}

fn latency(b: &Bucket) -> Option<f64> {
    b.max_latency_ns.map(|v| v as f64)
}

fn slack(b: &Bucket) -> Option<f64> {
    b.min_slack_ns.map(|v| v as f64)
}

fn backlog(b: &Bucket) -> Option<f64> {
    b.max_backlog.map(|v| v as f64)
}

/// The smallest and largest value of `pick` over every run (0 if none).
fn range(runs: &[Run], pick: &[fn(&Bucket) -> Option<f64>]) -> (f64, f64) {
    let values = runs.iter().flat_map(|run| {
        run.series
            .buckets()
            .iter()
            .flat_map(|b| pick.iter().filter_map(move |p| p(b)))
    });
    values.fold((0.0, 0.0), |(lo, hi), v| (v.min(lo), v.max(hi)))
}

/// Draws `runs` (aligning their buckets first).
pub fn figures(runs: &mut [Run]) -> Figures {
    let width = runs.iter().map(|r| r.series.width_ns()).max().unwrap_or(1);
    runs.iter_mut().for_each(|r| r.series.coarsen_to(width));
    let x_end_ns = runs.iter().map(|r| r.series.end_ns()).max().unwrap_or(0);
    let chart = |title: String, unit, y_range, lines, marker| Chart {
        title,
        unit,
        x_end_ns,
        y_range,
        lines,
        marker,
    };
    let overlay = |pick: fn(&Bucket) -> Option<f64>| -> Vec<Line> {
        (0..)
            .zip(runs.iter())
            .map(|(i, run)| Line {
                label: run.name.clone(),
                color: PALETTE[i % PALETTE.len()],
                points: points(&run.series, pick),
            })
            .collect()
    };
    let latency_overview = chart(
        "Worst latency, every strategy".into(),
        Unit::Duration,
        range(runs, &[latency]),
        overlay(latency),
        None,
    );
    let backlog_overview = chart(
        "Backlog (messages in flight), every strategy".into(),
        Unit::Count,
        range(runs, &[backlog]),
        overlay(backlog),
        None,
    );
    let per_run = runs
        .iter()
        .map(|run| {
            let own = std::slice::from_ref(run);
            let one = |what: &str, unit, color, pick: fn(&Bucket) -> Option<f64>| {
                let line = Line {
                    label: format!("{what} per bucket"),
                    color,
                    points: points(&run.series, pick),
                };
                let title = format!("{}: {what}", run.name);
                let marker = run.first_miss.clone();
                chart(title, unit, range(own, &[pick]), vec![line], marker)
            };
            [
                one("worst latency", Unit::Duration, PALETTE[0], latency),
                one("least slack", Unit::Duration, PALETTE[2], slack),
                one("largest backlog", Unit::Count, PALETTE[3], backlog),
            ]
        })
        .collect();
    Figures {
        latency_overview,
        backlog_overview,
        per_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, scale: u64, horizon: u64) -> Run {
        let mut series = Series::new();
        for t in (0..horizon).step_by(7) {
            let latency = t * scale;
            series.message(t, Some(latency), Some(100 - latency as i64), false);
            series.backlog(t, scale);
        }
        Run {
            name: name.into(),
            series,
            first_miss: None,
        }
    }

    #[test]
    fn runs_share_the_time_axis_and_the_overviews_share_the_y_range() {
        let mut runs = vec![run("a", 1, 5_000), run("b", 3, 20_000)];
        let figures = figures(&mut runs);
        assert_eq!(runs[0].series.width_ns(), runs[1].series.width_ns());
        let (a, b) = (&figures.per_run[0][0], &figures.per_run[1][0]);
        assert_eq!(a.x_end_ns, b.x_end_ns);
        let last = |horizon: u64| (0..horizon).step_by(7).last().unwrap() as f64;
        let max_latency = 3.0 * last(20_000);
        assert_eq!(figures.latency_overview.y_range, (0.0, max_latency));
        assert_eq!(b.y_range.1, max_latency);
        assert_eq!(a.y_range.1, last(5_000));
        assert_eq!(figures.per_run[1][2].y_range, (0.0, 3.0));
        assert_eq!(figures.per_run[0][2].y_range, (0.0, 1.0));
        // Each bucket keeps its least slack: the top is the first bucket's.
        let slack = figures.per_run[0][1].y_range;
        assert_eq!(slack.0, 100.0 - last(5_000));
        assert!(slack.1 < 100.0 && slack.1 > 100.0 - runs[0].series.width_ns() as f64);
        assert_eq!(figures.latency_overview.lines.len(), 2);
        let last_a = a.lines[0].points.last().unwrap().0;
        assert!(last_a < 5_000 + runs[0].series.width_ns());
        let names: Vec<String> = vec!["a".into(), "guard:5%:pool:4".into()];
        let files: Vec<String> = figures.svg_files(&names).into_iter().map(|f| f.0).collect();
        assert_eq!(files[7], "2-guard-5--pool-4-backlog.svg");
        assert_eq!(files.len(), 8);
    }
}
