//! Line charts as plain SVG text: axes with round ticks, one polyline per
//! series, an optional marked instant. No dependencies and no styles from
//! outside: every colour is a presentation attribute, so the same SVG is a
//! standalone file (`--svg DIR`) and an inline figure of the HTML report.
//! Coordinates are printed with one decimal, so output is deterministic.

use std::fmt::Write as _;

use esreplay_traces::format_ns;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 230.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 34.0;

/// What the values on the y axis are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Signed nanoseconds, labelled as durations (`-2s`, `500ms`).
    Duration,
    /// A number of messages.
    Count,
}

/// One series of (time in ns, value) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Legend text.
    pub label: String,
    /// Stroke colour (any SVG colour).
    pub color: &'static str,
    /// Points in increasing time.
    pub points: Vec<(u64, f64)>,
}

/// A vertical mark at one instant (e.g. the first miss).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Where, in ns.
    pub at_ns: u64,
    /// What it marks.
    pub label: String,
}

/// A line chart over time [0, `x_end_ns`].
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Title, top left.
    pub title: String,
    /// The unit of the y values.
    pub unit: Unit,
    /// The right end of the time axis.
    pub x_end_ns: u64,
    /// The y range shown (widened to include 0 and to be non-empty).
    pub y_range: (f64, f64),
    /// The series.
    pub lines: Vec<Line>,
    /// An instant to mark.
    pub marker: Option<Marker>,
}

/// `text` with the five XML special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Round tick values covering [lo, hi], about `target` of them (1-2-5 steps).
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let raw = ((hi - lo) / target.max(1) as f64).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A short label for a tick or a value: `-1.5s`, `200ms`, `12k`.
pub fn label(value: f64, unit: Unit) -> String {
    let magnitude = value.abs().round() as u64;
    let sign = if value < 0.0 && magnitude > 0 {
        "-"
    } else {
        ""
    };
    let text = match unit {
        Unit::Duration => format_ns(magnitude),
        Unit::Count if magnitude >= 1_000_000 => format!("{:.2}M", magnitude as f64 / 1e6),
        Unit::Count if magnitude >= 10_000 => format!("{:.1}k", magnitude as f64 / 1e3),
        Unit::Count => magnitude.to_string(),
    };
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit_suffix = &text[digits.len()..];
    let digits = match digits.contains('.') {
        true => digits.trim_end_matches('0').trim_end_matches('.'),
        false => digits,
    };
    format!("{sign}{digits}{unit_suffix}")
}

/// Maps data coordinates to the plot area.
struct Frame {
    x_end: f64,
    y_lo: f64,
    y_hi: f64,
}

impl Frame {
    fn x(&self, ns: u64) -> f64 {
        LEFT + (ns as f64 / self.x_end) * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, value: f64) -> f64 {
        let share = (value - self.y_lo) / (self.y_hi - self.y_lo);
        HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
    }
}

impl Chart {
    fn frame(&self) -> Frame {
        let (lo, hi) = self.y_range;
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let hi = if hi - lo < 1.0 { lo + 1.0 } else { hi };
        Frame {
            x_end: self.x_end_ns.max(1) as f64,
            y_lo: lo,
            y_hi: hi,
        }
    }

    /// The chart as a standalone `<svg>` element.
    pub fn svg(&self) -> String {
        let frame = self.frame();
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
             width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
             <text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\" fill=\"#222\">{}</text>\n",
            escape(&self.title)
        );
        self.axes(&frame, &mut out);
        self.legend(&mut out);
        for line in &self.lines {
            polyline(&frame, line, &mut out);
        }
        if let Some(marker) = &self.marker {
            mark(&frame, marker, &mut out);
        }
        out.push_str("</svg>\n");
        out
    }

    fn axes(&self, frame: &Frame, out: &mut String) {
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
        for value in ticks(frame.y_lo, frame.y_hi, 4) {
            let y = frame.y(value);
            let stroke = if value == 0.0 { "#888" } else { "#e4e4e4" };
            let _ = writeln!(
                out,
                "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"{stroke}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
                left - 6.0,
                y + 4.0,
                escape(&label(value, self.unit))
            );
        }
        for value in ticks(0.0, frame.x_end, 8) {
            let x = frame.x(value as u64);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
                bottom + 4.0,
                bottom + 16.0,
                escape(&label(value, Unit::Duration))
            );
        }
        let _ = writeln!(
            out,
            "<rect x=\"{left}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#bbb\"/>\
             <text x=\"{right}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#777\">arrival time</text>",
            right - left,
            bottom - TOP,
            HEIGHT - 4.0
        );
    }

    fn legend(&self, out: &mut String) {
        let mut x = WIDTH - RIGHT;
        for line in self.lines.iter().rev() {
            let _ = writeln!(
                out,
                "<text x=\"{x:.1}\" y=\"18\" text-anchor=\"end\" fill=\"{}\">■ {}</text>",
                line.color,
                escape(&line.label)
            );
            x -= 14.0 + 7.0 * line.label.chars().count() as f64;
        }
    }
}

fn polyline(frame: &Frame, line: &Line, out: &mut String) {
    let _ = write!(
        out,
        "<polyline class=\"series\" data-label=\"{}\" data-points=\"{}\" fill=\"none\" stroke=\"{}\" \
         stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"",
        escape(&line.label),
        line.points.len(),
        line.color
    );
    for (i, &(ns, value)) in line.points.iter().enumerate() {
        let separator = if i == 0 { "" } else { " " };
        let _ = write!(out, "{separator}{:.1},{:.1}", frame.x(ns), frame.y(value));
    }
    out.push_str("\"/>\n");
}

fn mark(frame: &Frame, marker: &Marker, out: &mut String) {
    let x = frame.x(marker.at_ns);
    let anchor = if x > WIDTH * 0.6 { "end" } else { "start" };
    let dx = if anchor == "end" { -4.0 } else { 4.0 };
    let _ = writeln!(
        out,
        "<g class=\"marker\"><title>{label}</title>\
         <line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#d00\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#d00\">{label}</text></g>",
        HEIGHT - BOTTOM,
        x + dx,
        TOP + 12.0,
        label = escape(&marker.label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(-3.0, 7.0, 2), vec![-5.0 + 5.0, 5.0]);
        let big = ticks(0.0, 10e9, 8);
        assert_eq!((big[1], big.len()), (2e9, 6));
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(label(2e9, Unit::Duration), "2s");
        assert_eq!(label(-1.5e9, Unit::Duration), "-1.5s");
        assert_eq!(label(500e6, Unit::Duration), "500ms");
        assert_eq!(label(0.0, Unit::Duration), "0ns");
        assert_eq!(label(126_697.0, Unit::Count), "126.7k");
        assert_eq!(label(40.0, Unit::Count), "40");
    }

    #[test]
    fn a_chart_has_one_polyline_per_line_and_the_marker() {
        let chart = Chart {
            title: "latency <inline>".into(),
            unit: Unit::Duration,
            x_end_ns: 1000,
            y_range: (-50.0, 200.0),
            lines: vec![Line {
                label: "max latency".into(),
                color: "#1f77b4",
                points: vec![(0, 0.0), (500, 200.0), (1000, -50.0)],
            }],
            marker: Some(Marker {
                at_ns: 500,
                label: "first miss".into(),
            }),
        };
        let svg = chart.svg();
        assert!(svg.contains("latency &lt;inline&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        // x spans the plot area, y = 200 is its top and -50 its bottom.
        assert!(
            svg.contains("points=\"72.0,162.8 408.0,30.0 744.0,196.0\""),
            "{svg}"
        );
        assert!(svg.contains("class=\"marker\""));
    }
}
