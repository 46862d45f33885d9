//! A deliberately naive reference implementation of the simulation
//! semantics of docs/simulator.md, written straight from the text and sharing no
//! code with the engine: the handler pass first, then a quadratic
//! "pick the earliest free worker, give it the best ready job" loop.

use super::support::Row;

/// The inner strategy.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Inline,
    Fifo(usize),
    Edf(usize),
}

/// The guard margin: fixed, or (percent, min, max).
#[derive(Clone, Copy, Debug)]
pub enum Watchdog {
    Fixed(u64),
    Relative(u64, u64, u64),
}

/// One message's fate: (h, start, finish, r, defaulted).
pub type Fate = (u64, Option<u64>, Option<u64>, u64, bool);

/// The simulator's outcomes in the reference's terms.
pub fn fates(outcomes: &[esreplay_simulator::Outcome]) -> Vec<Fate> {
    outcomes
        .iter()
        .map(|o| {
            (
                o.handler_ns,
                o.start_ns,
                o.finish_ns,
                o.response_ns,
                o.defaulted,
            )
        })
        .collect()
}

/// τ, ρ, c_h.
pub type Timing = (u64, u64, u64);

pub fn simulate(
    kind: Kind,
    guard: Option<Watchdog>,
    rows: &[Row],
    (tau, rho, handoff): Timing,
) -> Vec<Fate> {
    let n = rows.len();
    let mut taken = vec![0u64; n];
    let mut ready = vec![0u64; n];
    let mut handler_free = 0u64;
    for (i, &(arrival, service, _)) in rows.iter().enumerate() {
        taken[i] = arrival.saturating_add(tau).max(handler_free);
        let busy = if matches!(kind, Kind::Inline) {
            service
        } else {
            handoff
        };
        handler_free = taken[i].saturating_add(busy);
        ready[i] = taken[i].saturating_add(handoff);
    }
    let guard_time = |i: usize| -> Option<u64> {
        let deadline = rows[i].2?;
        let margin = match guard? {
            Watchdog::Fixed(m) => m,
            Watchdog::Relative(percent, low, high) => {
                let left = u128::from(deadline.saturating_sub(taken[i]));
                (u64::try_from(left * u128::from(percent) / 100).unwrap_or(u64::MAX))
                    .clamp(low, high)
            }
        };
        Some(deadline.saturating_sub(margin).max(taken[i]))
    };
    let mut start: Vec<Option<u64>> = vec![None; n];
    match kind {
        Kind::Inline => (0..n).for_each(|i| start[i] = Some(taken[i])),
        Kind::Fifo(workers) | Kind::Edf(workers) => {
            let edf = matches!(kind, Kind::Edf(_));
            let key = |i: usize| {
                if edf {
                    (rows[i].2.unwrap_or(u64::MAX), i)
                } else {
                    (0, i)
                }
            };
            let mut free = vec![0u64; workers];
            let mut pending: Vec<usize> = (0..n).collect();
            while !pending.is_empty() {
                let worker = (0..workers).min_by_key(|&w| free[w]).unwrap();
                let first_ready = pending.iter().map(|&i| ready[i]).min().unwrap();
                let now = free[worker].max(first_ready);
                let pick = *pending
                    .iter()
                    .filter(|&&i| ready[i] <= now)
                    .min_by_key(|&&i| key(i))
                    .unwrap();
                pending.retain(|&i| i != pick);
                if guard_time(pick).is_some_and(|g| now > g) {
                    continue; // dropped: the worker stays free
                }
                start[pick] = Some(now);
                free[worker] = now.saturating_add(rows[pick].1);
            }
        }
    }
    (0..n)
        .map(|i| {
            let finish = start[i].map(|s| s.saturating_add(rows[i].1));
            let (answer, defaulted) = match (guard_time(i), finish) {
                (Some(g), None) => (g, true),
                (Some(g), Some(f)) if g < f => (g, true),
                (_, Some(f)) => (f, false),
                (None, None) => unreachable!("only a guard drops jobs"),
            };
            (
                taken[i],
                start[i],
                finish,
                answer.saturating_add(rho),
                defaulted,
            )
        })
        .collect()
}
