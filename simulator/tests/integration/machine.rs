//! A naive model of the whole machine, written from DESIGN.md ("Blocking
//! threads and the kernel queue", "The CPU") and sharing no code with the
//! engine: exact rationals, and every step scans every message, thread and
//! worker for the next event. Slow and obviously quadratic, on purpose.
//!
//! The closed loop is written the long way round: a thread's next message
//! arrives at its previous replayed arrival plus the recorded gap, plus
//! (for an AUTH predecessor) the replayed stall minus the recorded one,
//! never before the previous answer. The CPU is computed directly: every
//! runnable thread's remaining work drops by Δt · φ, φ = 1 / ⌈(n + B)/C⌉
//! per core (the default) or C / (n + B) fluid, with whole C and B (the
//! engine's interpolation between whole thread counts is a unit test of
//! `engine/cpu.rs`).

use std::cmp::Ordering;

/// An exact rational time or amount of work.
#[derive(Clone, Copy, Debug)]
pub struct Q(i128, i128);

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

impl Q {
    pub fn int(n: u64) -> Q {
        Q(i128::from(n), 1)
    }
    fn new(num: i128, den: i128) -> Q {
        let g = gcd(num, den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        Q(sign * num / g, sign * den / g)
    }
    fn add(self, o: Q) -> Q {
        Q::new(self.0 * o.1 + o.0 * self.1, self.1 * o.1)
    }
    fn sub(self, o: Q) -> Q {
        Q::new(self.0 * o.1 - o.0 * self.1, self.1 * o.1)
    }
    fn mul(self, o: Q) -> Q {
        Q::new(self.0 * o.0, self.1 * o.1)
    }
    fn div(self, o: Q) -> Q {
        Q::new(self.0 * o.1, self.1 * o.0)
    }
    fn max(self, o: Q) -> Q {
        if self < o { o } else { self }
    }
    fn min(self, o: Q) -> Q {
        if self < o { self } else { o }
    }
    fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// Rounded up to a whole number.
    pub fn ceil(self) -> u64 {
        let q = self.0.div_euclid(self.1);
        (if self.0.rem_euclid(self.1) == 0 {
            q
        } else {
            q + 1
        }) as u64
    }
}

impl PartialEq for Q {
    fn eq(&self, o: &Q) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Q {}
impl PartialOrd for Q {
    fn partial_cmp(&self, o: &Q) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Q {
    fn cmp(&self, o: &Q) -> Ordering {
        (self.0 * o.1).cmp(&(o.0 * self.1))
    }
}

/// One recorded message.
#[derive(Clone, Copy, Debug)]
pub struct Rec {
    pub arrival: u64,
    pub service: u64,
    /// `None`: NOTIFY.
    pub deadline: Option<u64>,
    pub thread: Option<u64>,
    /// The recorded answer time (σ = response − arrival).
    pub response: Option<u64>,
}

/// The strategy and the machine.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// 0: inline; N: a pool of N workers.
    pub workers: usize,
    pub edf: bool,
    /// A fixed guard margin.
    pub guard: Option<u64>,
    pub tau: u64,
    pub rho: u64,
    pub handoff: u64,
    pub handler_overhead: u64,
    pub worker_overhead: u64,
    pub queue: Option<usize>,
    /// (C, B) as whole numbers.
    pub cores: Option<(u64, u64)>,
    /// Fluid sharing (C / (n + B)) instead of per core (1 / ⌈(n + B) / C⌉).
    pub fluid: bool,
    pub fail_open: bool,
    pub closed: bool,
}

/// What the model predicts: (a', h, start, finish, r, r', dropped, defaulted), in whole ns rounded up.
pub type Fate = (u64, u64, Option<u64>, Option<u64>, u64, u64, bool, bool);

#[derive(Clone, Copy, Debug, Default)]
struct M {
    released: Option<Q>,
    arrived: bool,
    /// Its place among the admitted messages, in the order they arrived.
    admitted: Option<usize>,
    dropped: bool,
    taken: Option<Q>,
    queued: Option<(Q, usize)>,
    start: Option<Q>,
    finish: Option<Q>,
    answer: Option<Q>,
    unblocked: Option<Q>,
    defaulted: bool,
    guard: Option<Q>,
    dead: bool,
    handed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Work(usize),
    HandOff(usize),
    Overhead,
}

struct World<'a> {
    rows: &'a [Rec],
    s: Setup,
    m: Vec<M>,
    now: Q,
    waiting: Vec<usize>,
    handler: Option<(Task, Q)>,
    workers: Vec<Option<(usize, Q)>>,
    free_since: Vec<Q>,
    takes: usize,
}

impl World<'_> {
    fn deadline(&self, i: usize) -> Option<Q> {
        let d = self.rows[i].deadline?;
        let a = self.m[i].released?;
        Some(Q::int(d).add(a).sub(Q::int(self.rows[i].arrival)))
    }

    fn rate(&self) -> Q {
        let n = usize::from(self.handler.is_some()) + self.workers.iter().flatten().count();
        match self.s.cores {
            Some((c, b)) if (n as u64 + b) > c && self.s.fluid => {
                Q::new(i128::from(c), (n as u64 + b) as i128)
            }
            // Per core: a client thread shares the most crowded core.
            Some((c, b)) if (n as u64 + b) > c => Q::new(1, (n as u64 + b).div_ceil(c) as i128),
            _ => Q::int(1),
        }
    }

    /// Releases the messages of every thread that is not blocked.
    fn release(&mut self) {
        for i in 0..self.rows.len() {
            if self.m[i].released.is_some() {
                continue;
            }
            let row = self.rows[i];
            let thread = row.thread.filter(|_| self.s.closed);
            let Some(t) = thread else {
                self.m[i].released = Some(Q::int(row.arrival));
                continue;
            };
            let previous = (0..i).rev().find(|&j| self.rows[j].thread == Some(t));
            let Some(p) = previous else {
                self.m[i].released = Some(Q::int(row.arrival));
                continue;
            };
            let Some(pa) = self.m[p].released else {
                continue;
            };
            let gap = Q::int(row.arrival).sub(Q::int(self.rows[p].arrival));
            let mut at = pa.add(gap);
            if self.rows[p].deadline.is_some() {
                let Some(r) = self.m[p].unblocked else {
                    continue;
                };
                let sigma = self.rows[p]
                    .response
                    .map_or(0, |x| x.saturating_sub(self.rows[p].arrival));
                at = at.add(r.sub(pa)).sub(Q::int(sigma));
            }
            let last = (0..i)
                .rev()
                .find(|&j| self.rows[j].thread == Some(t) && self.rows[j].deadline.is_some());
            let floor = last.and_then(|j| self.m[j].unblocked).unwrap_or(Q::int(0));
            self.m[i].released = Some(at.max(floor).max(Q::int(0)));
        }
    }

    fn answer(&mut self, i: usize, at: Q, defaulted: bool) {
        if self.m[i].answer.is_some() {
            return;
        }
        self.m[i].answer = Some(at);
        self.m[i].defaulted = defaulted;
        if self.m[i].unblocked.is_none() {
            let r = at.add(Q::int(self.s.rho));
            let r = match (self.s.fail_open, self.deadline(i)) {
                (true, Some(d)) => r.min(d),
                _ => r,
            };
            self.m[i].unblocked = Some(r);
        }
    }

    fn events(&self) -> Vec<(Q, u8)> {
        let mut e = Vec::new();
        let phi = self.rate();
        if let Some((_, left)) = self.handler {
            e.push((self.now.add(left.div(phi)), 1));
        }
        for (_, left) in self.workers.iter().flatten() {
            e.push((self.now.add(left.div(phi)), 1));
        }
        if self.handler.is_none()
            && let Some(&i) = self.waiting.first()
        {
            e.push((
                self.m[i]
                    .released
                    .unwrap()
                    .add(Q::int(self.s.tau))
                    .max(self.now),
                2,
            ));
        }
        for m in &self.m {
            if let (Some(a), false) = (m.released, m.arrived) {
                e.push((a.max(self.now), 3));
            }
        }
        if self.workers.iter().any(Option::is_none)
            && self
                .m
                .iter()
                .any(|m| m.queued.is_some() && m.start.is_none() && !m.dead)
        {
            e.push((self.now, 4));
        }
        for m in &self.m {
            if let (Some(g), None) = (m.guard, m.answer) {
                e.push((g.max(self.now), 5));
            }
        }
        if self.s.fail_open {
            for i in 0..self.m.len() {
                if let (true, false, None, Some(d)) = (
                    self.m[i].arrived,
                    self.m[i].dropped,
                    self.m[i].unblocked,
                    self.deadline(i),
                ) {
                    e.push((d.max(self.now), 6));
                }
            }
        }
        e
    }

    fn step(&mut self) -> bool {
        self.release();
        let Some(&(at, class)) = self.events().iter().min() else {
            return false;
        };
        let work = at.sub(self.now).mul(self.rate());
        if let Some((_, left)) = &mut self.handler {
            *left = left.sub(work);
        }
        for (_, left) in self.workers.iter_mut().flatten() {
            *left = left.sub(work);
        }
        self.now = at;
        match class {
            1 => self.completion(),
            2 => self.take(),
            3 => self.arrive(),
            4 => self.dispatch(),
            5 => self.watchdog(),
            _ => self.kernel_deadline(),
        }
        true
    }

    fn completion(&mut self) {
        let now = self.now;
        if let Some((task, left)) = self.handler
            && left.is_zero()
        {
            self.handler = None;
            match task {
                Task::Work(i) => {
                    self.m[i].finish = Some(now);
                    self.answer(i, now, false);
                    self.overhead();
                }
                Task::HandOff(i) => self.handed(i),
                Task::Overhead => {}
            }
            return;
        }
        for w in 0..self.workers.len() {
            if let Some((i, left)) = self.workers[w]
                && left.is_zero()
            {
                self.workers[w] = None;
                self.free_since[w] = now;
                self.m[i].finish = Some(now);
                self.answer(i, now, false);
                return;
            }
        }
    }

    fn overhead(&mut self) {
        if self.s.handler_overhead > 0 {
            self.handler = Some((Task::Overhead, Q::int(self.s.handler_overhead)));
        }
    }

    fn handed(&mut self, i: usize) {
        self.m[i].handed = true;
        if !self.m[i].dead {
            self.m[i].queued = Some((self.now, self.takes));
        }
        self.overhead();
    }

    fn take(&mut self) {
        let i = self.waiting.remove(0);
        let now = self.now;
        self.takes += 1;
        self.m[i].taken = Some(now);
        if let (Some(margin), Some(d)) = (self.s.guard, self.deadline(i)) {
            self.m[i].guard = Some(d.sub(Q::int(margin)).max(now));
        }
        let service = Q::int(self.rows[i].service);
        if self.s.workers == 0 {
            self.m[i].start = Some(now);
            self.handler = Some((Task::Work(i), service));
        } else if self.s.handoff > 0 {
            self.handler = Some((Task::HandOff(i), Q::int(self.s.handoff)));
        } else {
            self.handed(i);
        }
    }

    fn arrive(&mut self) {
        // The earliest (a', global_seq) not arrived.
        let i = (0..self.m.len())
            .filter(|&i| self.m[i].released.is_some() && !self.m[i].arrived)
            .min_by_key(|&i| (self.m[i].released.unwrap(), i))
            .unwrap();
        self.m[i].arrived = true;
        if self.s.queue.is_some_and(|n| self.waiting.len() >= n) {
            let a = self.m[i].released.unwrap();
            self.m[i].dropped = true;
            self.m[i].answer = Some(a);
            self.m[i].unblocked = Some(a);
            return;
        }
        self.m[i].admitted = Some(self.m.iter().filter(|m| m.admitted.is_some()).count());
        self.waiting.push(i);
    }

    fn dispatch(&mut self) {
        let w = (0..self.workers.len())
            .filter(|&w| self.workers[w].is_none())
            .min_by_key(|&w| (self.free_since[w], w))
            .unwrap();
        let key = |i: usize| {
            let (at, order) = self.m[i].queued.unwrap();
            if self.s.edf {
                let d = self.deadline(i).map_or(u64::MAX, Q::ceil);
                (Q::int(0), d, i)
            } else {
                (at, order as u64, i)
            }
        };
        let i = (0..self.m.len())
            .filter(|&i| self.m[i].queued.is_some() && self.m[i].start.is_none() && !self.m[i].dead)
            .min_by_key(|&i| key(i))
            .unwrap();
        self.m[i].start = Some(self.now);
        let work = self.rows[i].service + self.s.worker_overhead;
        self.workers[w] = Some((i, Q::int(work)));
    }

    fn watchdog(&mut self) {
        let now = self.now;
        let i = (0..self.m.len())
            .filter(|&i| self.m[i].guard.is_some_and(|g| g <= now) && self.m[i].answer.is_none())
            .min_by_key(|&i| (self.m[i].guard.unwrap(), i))
            .unwrap();
        let g = self.m[i].guard.unwrap();
        self.answer(i, g, true);
        if self.m[i].start.is_none() {
            self.m[i].dead = true;
        }
    }

    /// The kernel answers the message whose d' is due; of several due at
    /// one instant, the one that arrived first.
    fn kernel_deadline(&mut self) {
        let now = self.now;
        if let Some(i) = (0..self.m.len())
            .filter(|&i| {
                self.m[i].arrived
                    && !self.m[i].dropped
                    && self.m[i].unblocked.is_none()
                    && self.deadline(i).is_some_and(|d| d <= now)
            })
            .min_by_key(|&i| self.m[i].admitted)
        {
            self.m[i].unblocked = self.deadline(i);
        }
    }
}

/// Every message's fate, in input order.
pub fn simulate(rows: &[Rec], setup: Setup) -> Vec<Fate> {
    let mut world = World {
        rows,
        s: setup,
        m: vec![M::default(); rows.len()],
        now: Q::int(0),
        waiting: Vec::new(),
        handler: None,
        workers: vec![None; setup.workers],
        free_since: vec![Q::int(0); setup.workers],
        takes: 0,
    };
    while world.step() {}
    world
        .m
        .iter()
        .map(|m| {
            let a = m.released.unwrap().ceil();
            let r = m.answer.unwrap();
            let response = if m.dropped {
                r
            } else {
                r.add(Q::int(setup.rho))
            };
            (
                a,
                m.taken.map_or(a, Q::ceil),
                m.start.map(Q::ceil),
                m.finish.map(Q::ceil),
                response.ceil(),
                m.unblocked.unwrap().ceil(),
                m.dropped,
                m.defaulted,
            )
        })
        .collect()
}
