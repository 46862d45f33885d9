//! The self-contained HTML report: a summary table, the overview charts
//! and a section per strategy, with inline CSS and inline SVG only (no
//! script, no fonts, no links to fetch), so it opens offline and is
//! byte-identical for the same input.

use std::fmt::Write as _;

use crate::figures::Figures;
use crate::svg::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:900px;padding:0 12px;color:#222}\
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin:28px 0 6px}\
.meta{color:#555;font-size:13px;margin:2px 0}\
table{border-collapse:collapse;font-size:11px;margin:8px 0}.scroll{overflow-x:auto}\
th,td{border-bottom:1px solid #ddd;padding:3px 5px;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left}tr.fail td:first-child{color:#c00;font-weight:bold}\
.verdict{font-size:14px;margin:4px 0}.verdict.fail{color:#c00}.verdict.ok{color:#080}\
figure{margin:6px 0}svg.chart{max-width:100%;height:auto}.foot{color:#777;font-size:12px;margin-top:28px}";

/// The summary table: the column names and one row of cells per strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, one per strategy, in order.
    pub rows: Vec<Vec<String>>,
}

/// One strategy's verdict in a sentence and whether it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// "killed at 22.7s by message #130204 ..." or "no miss; ...".
    pub text: String,
    /// Misses (or a kill) predicted.
    pub failed: bool,
}

/// Everything on the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// Heading and `<title>`.
    pub title: String,
    /// Lines under the heading: the trace, the model, how to read it.
    pub notes: Vec<String>,
    /// The summary table.
    pub table: Table,
    /// Per strategy, in the order of the table's rows.
    pub verdicts: Vec<Verdict>,
    /// The charts.
    pub figures: Figures,
}

impl Page {
    /// The complete HTML document.
    pub fn html(&self) -> String {
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n",
            title = escape(&self.title)
        );
        for note in &self.notes {
            let _ = writeln!(out, "<p class=\"meta\">{}</p>", escape(note));
        }
        out.push_str("<h2>Summary</h2>\n");
        self.table(&mut out);
        out.push_str("<h2>Overview</h2>\n");
        for chart in [
            &self.figures.latency_overview,
            &self.figures.backlog_overview,
        ] {
            let _ = write!(out, "<figure>\n{}</figure>\n", chart.svg());
        }
        for (i, (charts, verdict)) in self.figures.per_run.iter().zip(&self.verdicts).enumerate() {
            let name = self.table.rows.get(i).and_then(|r| r.first());
            let class = if verdict.failed { "fail" } else { "ok" };
            let _ = write!(
                out,
                "<section class=\"strategy\" id=\"strategy-{i}\">\n<h2>{}</h2>\n\
                 <p class=\"verdict {class}\">{}</p>\n",
                escape(name.map_or("", String::as_str)),
                escape(&verdict.text),
            );
            for chart in charts {
                let _ = write!(out, "<figure>\n{}</figure>\n", chart.svg());
            }
            out.push_str("</section>\n");
        }
        out.push_str(
            "<p class=\"foot\">Each point is the worst value over the messages that arrived in one \
             time bucket: the largest latency, the smallest slack, the largest backlog. \
             Made by esreplay report.</p>\n</body>\n</html>\n",
        );
        out
    }

    fn table(&self, out: &mut String) {
        out.push_str("<div class=\"scroll\">\n<table id=\"summary\">\n<thead><tr>");
        for column in &self.table.columns {
            let _ = write!(out, "<th>{}</th>", escape(column));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for (row, verdict) in self.table.rows.iter().zip(&self.verdicts) {
            let class = if verdict.failed { "fail" } else { "ok" };
            let _ = write!(out, "<tr class=\"{class}\">");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n</div>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{Run, figures};
    use crate::series::Series;

    #[test]
    fn the_page_holds_the_table_and_two_charts_per_strategy() {
        let mut runs: Vec<Run> = ["inline", "pool:<4>"]
            .iter()
            .map(|name| {
                let mut series = Series::new();
                series.message(10, Some(5), Some(3), false);
                Run {
                    name: name.to_string(),
                    series,
                    first_miss: None,
                }
            })
            .collect();
        let page = Page {
            title: "esreplay report: t.estrace".into(),
            notes: vec!["cost trace".into()],
            table: Table {
                columns: vec!["strategy".into(), "misses".into()],
                rows: vec![
                    vec!["inline".into(), "1/2".into()],
                    vec!["pool:<4>".into(), "0/2".into()],
                ],
            },
            verdicts: vec![
                Verdict {
                    text: "killed".into(),
                    failed: true,
                },
                Verdict {
                    text: "no miss".into(),
                    failed: false,
                },
            ],
            figures: figures(&mut runs),
        };
        let html = page.html();
        assert_eq!(html.matches("<tr class=").count(), 2);
        assert_eq!(html.matches("<section class=\"strategy\"").count(), 2);
        assert_eq!(html.matches("<svg ").count(), 2 + 2 * 3);
        assert!(html.contains("<td>pool:&lt;4&gt;</td>"));
        assert!(!html.contains("<script") && !html.contains("http://www.w3.org/1999"));
    }
}
