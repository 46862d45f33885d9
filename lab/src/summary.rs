//! `esreplay lab --repeat N --markdown`: one Markdown row per strategy over
//! its repeated runs, each figure as the median with the range
//! (`median [min–max]`), and which way the prediction leans. The tables in
//! docs/fidelity.md are these rows.

use esreplay_simulator::SimResult;
use esreplay_traces::format_ns;

use crate::fidelity::Fidelity;

/// The lower median, min and max of `values` (not empty).
fn spread<T: Copy + PartialOrd>(values: &[T]) -> (T, T, T) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = sorted[(sorted.len() - 1) / 2];
    (median, sorted[0], sorted[sorted.len() - 1])
}

fn show<T: Copy + PartialOrd>(values: &[T], each: impl Fn(T) -> String) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let (median, min, max) = spread(values);
    if values.len() == 1 || min == max {
        return each(median);
    }
    format!("{} [{}–{}]", each(median), each(min), each(max))
}

fn p99(result: &SimResult) -> Option<u64> {
    result.latency_ns.map(|l| l.p99)
}

/// predicted ÷ observed − 1, in percent.
fn error(predicted: Option<u64>, observed: Option<u64>) -> Option<f64> {
    let (p, o) = (predicted? as f64, observed? as f64);
    (o > 0.0).then(|| (p / o - 1.0) * 100.0)
}

/// The alternative predictions the runs have, each with its name.
fn alternatives(runs: &[Fidelity]) -> Vec<(&'static str, Pick)> {
    let mut found: Vec<(&'static str, Pick)> = Vec::new();
    if runs.iter().any(|f| f.predicted_open.is_some()) {
        found.push(("open loop", |f| f.predicted_open.as_ref()));
    }
    if runs.iter().any(|f| f.predicted_fluid.is_some()) {
        found.push(("fluid CPU", |f| f.predicted_fluid.as_ref()));
    }
    if runs.iter().any(|f| f.predicted_no_cpu.is_some()) {
        found.push(("no CPU model", |f| f.predicted_no_cpu.as_ref()));
    }
    found
}

/// Whether a run's prediction is optimistic: a lower p99 or fewer misses
/// than observed.
fn optimistic(f: &Fidelity) -> bool {
    let low_p99 = matches!((p99(&f.predicted), p99(&f.observed)), (Some(p), Some(o)) if p < o);
    low_p99 || f.predicted.misses < f.observed.misses
}

fn leans(runs: &[Fidelity]) -> String {
    let optimistic = runs.iter().filter(|f| optimistic(f)).count();
    match optimistic {
        0 => "pessimistic".into(),
        n if n == runs.len() => "optimistic".into(),
        n => format!("mixed ({n} of {} optimistic)", runs.len()),
    }
}

/// The Markdown table: a header, then one row per group of runs of the
/// same strategy (in order).
pub fn markdown(groups: &[Vec<Fidelity>]) -> String {
    let all: Vec<Fidelity> = groups.iter().flatten().cloned().collect();
    let alts = alternatives(&all);
    let queue = all.iter().any(|f| f.conditions.kernel_queue.is_some());
    let mut header: Vec<String> = ["strategy", "runs", "p99 observed", "p99 predicted (error)"]
        .map(String::from)
        .into();
    header.extend(alts.iter().map(|(name, _)| format!("p99 {name} (error)")));
    header.push("p99 bare".into());
    let names: Vec<&str> = alts.iter().map(|(name, _)| *name).collect();
    header.push(format!(
        "misses obs / pred / {}bare",
        names.iter().map(|n| format!("{n} / ")).collect::<String>()
    ));
    let closed = all.iter().any(|f| f.conditions.replay == "closed");
    if closed {
        header.push("stall obs / pred (error)".into());
    }
    if queue {
        header.push("dropped obs / pred".into());
    }
    header.push("leans".into());
    let mut out = format!("| {} |\n", header.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    let picks: Vec<Pick> = alts.iter().map(|(_, pick)| *pick).collect();
    for runs in groups.iter().filter(|g| !g.is_empty()) {
        out.push_str(&row(runs, &picks, closed, queue));
    }
    out.push_str(&conditions(&all));
    out
}

/// One line under the table: the cores, hogs and measured background.
fn conditions(runs: &[Fidelity]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let c = &first.conditions;
    let means: Vec<f64> = runs
        .iter()
        .filter_map(|f| f.conditions.background_mean)
        .collect();
    let pinned = c
        .cpus
        .as_ref()
        .map_or(String::new(), |cpus| format!(" (pinned to CPUs {cpus:?})"));
    format!(
        "\n{} loop; cores: {}{pinned}; hogs: {}; background measured during the runs (other runnable threads on the lab's CPUs, hogs included): {}\n",
        c.replay,
        c.cores,
        c.hogs,
        show(&means, |m| format!("{m:.1}"))
    )
}

/// Picks one result of a run.
type Pick = fn(&Fidelity) -> Option<&SimResult>;

fn observed(f: &Fidelity) -> Option<&SimResult> {
    Some(&f.observed)
}

fn predicted(f: &Fidelity) -> Option<&SimResult> {
    Some(&f.predicted)
}

fn bare(f: &Fidelity) -> Option<&SimResult> {
    Some(&f.predicted_bare)
}

fn row(runs: &[Fidelity], alts: &[Pick], closed: bool, queue: bool) -> String {
    let ns = |v: u64| format_ns(v);
    let pct = |v: f64| format!("{v:+.0} %");
    let p99s =
        |pick: Pick| -> Vec<u64> { runs.iter().filter_map(|f| pick(f).and_then(p99)).collect() };
    let errors = |pick: Pick| -> Vec<f64> {
        runs.iter()
            .filter_map(|f| error(pick(f).and_then(p99), p99(&f.observed)))
            .collect()
    };
    let with_error =
        |pick: Pick| format!("{} ({})", show(&p99s(pick), ns), show(&errors(pick), pct));
    let misses = |pick: Pick| -> String {
        let counts: Vec<u64> = runs
            .iter()
            .filter_map(|f| pick(f).map(|r| r.misses))
            .collect();
        show(&counts, |v| v.to_string())
    };
    let mut cells = vec![
        format!("`{}`", runs[0].strategy),
        runs.len().to_string(),
        show(&p99s(observed), ns),
        with_error(predicted),
    ];
    cells.extend(alts.iter().map(|&alt| with_error(alt)));
    cells.push(show(&p99s(bare), ns));
    let mut counts = vec![misses(observed), misses(predicted)];
    counts.extend(alts.iter().map(|&alt| misses(alt)));
    counts.push(misses(bare));
    cells.push(counts.join(" / "));
    if closed {
        let stall = |pick: Pick| -> Vec<u64> {
            runs.iter()
                .filter_map(|f| pick(f).and_then(|r| r.stall_ns))
                .collect()
        };
        let errors: Vec<f64> = runs
            .iter()
            .filter_map(|f| error(f.predicted.stall_ns, f.observed.stall_ns))
            .collect();
        cells.push(format!(
            "{} / {} ({})",
            show(&stall(observed), ns),
            show(&stall(predicted), ns),
            show(&errors, pct)
        ));
    }
    if queue {
        let dropped: Vec<usize> = runs.iter().map(|f| f.dropped_observed).collect();
        let predicted: Vec<u64> = runs.iter().filter_map(|f| f.predicted_dropped).collect();
        cells.push(format!(
            "{} / {}",
            show(&dropped, |v| v.to_string()),
            show(&predicted, |v| v.to_string())
        ));
    }
    cells.push(leans(runs));
    format!("| {} |\n", cells.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_show_the_median_and_the_range() {
        assert_eq!(spread(&[3, 1, 2]), (2, 1, 3));
        assert_eq!(spread(&[4, 1]), (1, 1, 4));
        assert_eq!(show(&[5u64], |v| v.to_string()), "5");
        assert_eq!(show(&[5u64, 5], |v| v.to_string()), "5");
        assert_eq!(show(&[1u64, 9, 3], |v| v.to_string()), "3 [1–9]");
        assert_eq!(show::<u64>(&[], |v| v.to_string()), "-");
        assert!((error(Some(90), Some(100)).unwrap() + 10.0).abs() < 1e-9);
        assert_eq!(error(Some(90), Some(0)), None);
    }
}
