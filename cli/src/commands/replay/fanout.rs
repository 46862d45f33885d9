//! Reading a trace once for many simulations.
//!
//! - [`fan_out`] (under [`run_all`] for `compare` and `report`, and
//!   `check`): the calling thread decodes the trace in chunks of
//!   [`CHUNK`] messages and hands each chunk, shared (`Arc`), to one
//!   thread per core (at most one per strategy) through channels holding
//!   at most [`IN_FLIGHT`] chunks. Strategy i runs on thread i % threads;
//!   with more strategies than cores the calling thread is one of them.
//!   Each thread runs the engines of its strategies over a chunk in turn,
//!   [`SLICE`] messages at a time, so the slice is still in the core's
//!   cache for the next engine, and threads wake once per chunk, not once
//!   per strategy. The engines are independent: results do not depend on
//!   the number of threads. The reader waits for the slowest thread, so
//!   at most (threads × ([`IN_FLIGHT`] + 1) + 1) chunks are alive at
//!   once, whatever the trace's length or the number of strategies.
//! - [`measure`] (`sweep`): one pass that checks the trace, measures the
//!   sweep's [`Bounds`] and keeps a [`MemoryCopy`] of it (without
//!   paths) when it fits in [`SWEEP_MEMORY`], so probes need not decode
//!   the file again.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result};
use esreplay_simulator::kernel::KernelCounts;
use esreplay_simulator::margins::MarginCheck;
use esreplay_simulator::sweep::{Bounds, MemoryCopy};
use esreplay_simulator::{Observer, SimError, SimResult, Simulator, Strategy, StrategySpec};
use esreplay_traces::format::read_footer;
use esreplay_traces::{Fields, Message, TraceReader};

use super::super::{Integrity, open_trace_tracked, warn_about_losses};
use super::Model;
use super::ahead::ReadAhead;

/// Messages per chunk handed to the workers.
const CHUNK: usize = 4096;
/// Chunks waiting in each worker's channel, at most.
const IN_FLIGHT: usize = 4;
/// Messages one engine simulates before the next engine of its worker
/// takes the same messages (20 KB: they stay in the core's first-level
/// cache).
const SLICE: usize = 128;

type Chunk = Arc<Vec<Message>>;
pub(in crate::commands) type Reader = TraceReader<Box<dyn std::io::Read + Send>>;

/// What a worker receives: messages, then `End` when the trace was read
/// to its end without error (without it, no engine finishes).
enum Piece {
    Messages(Chunk),
    End,
}

/// Simulates every `specs[i]` (labelled `labels[i]`, reporting to
/// `observers[i]`) on one decoding of the trace at `path`; results in
/// order, and what the read found of the trace's completeness. A decoding
/// error comes first, then the first strategy's error; losses and guard
/// margin warnings are printed once, in order.
pub(in crate::commands) fn run_all<O: Observer + Send>(
    path: &Path,
    labels: &[String],
    specs: &[StrategySpec],
    model: &Model,
    observers: Vec<O>,
) -> Result<(Vec<SimResult>, Integrity)> {
    let (read, runs) = fan_out(cores(), path, labels, specs, model, observers)?;
    let reader = read?;
    let results = runs
        .into_iter()
        .map(Ran::finished)
        .collect::<Result<Vec<_>>>()?;
    for (label, (_, warnings)) in labels.iter().zip(&results) {
        for warning in warnings {
            eprintln!("esreplay: warning: {}: {warning}", label.trim());
        }
    }
    warn_about_losses(path, &reader);
    let results = results.into_iter().map(|(result, _)| result).collect();
    Ok((results, Integrity::of(&reader)))
}

/// The threads a [`fan_out`] runs engines on: one per core.
pub(in crate::commands) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// How one strategy's run ended.
pub(in crate::commands) enum Ran {
    /// The engine refused a message (the error names the file and the
    /// strategy): later messages were not simulated.
    Refused(anyhow::Error),
    /// The read stopped on a decoding error before the engine refused
    /// anything: the run was not finished.
    Unfinished,
    /// Every message was simulated and the run finished: the result, the
    /// guard margin warnings and the ES cache's key counts (taken before
    /// finishing).
    Finished {
        /// Boxed: a result is large, a refusal small.
        result: Result<Box<SimResult>>,
        warnings: Vec<String>,
        keys: Option<KernelCounts>,
    },
}

impl Ran {
    /// The result and margin warnings of a run whose read ended cleanly.
    fn finished(self) -> Result<(SimResult, Vec<String>)> {
        match self {
            Ran::Refused(error) => Err(error),
            Ran::Unfinished => unreachable!("the read ended cleanly, so every run finished"),
            Ran::Finished {
                result, warnings, ..
            } => Ok((*result?, warnings)),
        }
    }
}

/// Runs every strategy (as in [`run_all`]) on one decoding of the trace,
/// with the engines on at most `threads` threads ([`cores`]), printing
/// nothing: how the read ended (the reader, for its losses and
/// completeness, or the decoding error with the file's name) and how each
/// run ended, in order. Errs only when the trace cannot be opened. With
/// more strategies than threads, the calling thread runs a share of them
/// besides decoding (every core is busy anyway, and a chunk it decodes is
/// still in its cache); otherwise it only decodes.
pub(in crate::commands) fn fan_out<O: Observer + Send>(
    threads: usize,
    path: &Path,
    labels: &[String],
    specs: &[StrategySpec],
    model: &Model,
    observers: Vec<O>,
) -> Result<(Result<Reader>, Vec<Ran>)> {
    let reader = open_trace_tracked(path, model.salvage, &model.progress)?;
    let mut reader = reader.fields(model.fields());
    let threads = threads.clamp(1, specs.len().max(1));
    // Strategy i runs on thread i % threads; the first is the caller's
    // when it runs any.
    let mut lanes: Vec<Vec<Lane<'_, O>>> = (0..threads).map(|_| Vec::new()).collect();
    let strategies = labels.iter().zip(specs).zip(observers).enumerate();
    for (index, ((label, spec), observer)) in strategies {
        let lane = Lane {
            index,
            label,
            spec,
            observer,
        };
        lanes[index % threads].push(lane);
    }
    let mut lanes = lanes.into_iter();
    let own = match specs.len() > threads {
        true => lanes.next().unwrap_or_default(),
        false => Vec::new(),
    };
    let (read, mut runs) = std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for lanes in lanes {
            let (sender, pieces) = sync_channel::<Piece>(IN_FLIGHT);
            senders.push(Some(sender));
            handles.push(scope.spawn(move || work(pieces, lanes, path, model)));
        }
        let mut read = Ok(false);
        let mut runs = with_engines(own, path, model, |engines| {
            read = feed(&mut reader, senders, path, engines);
            matches!(read, Ok(true))
        });
        let others = handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a strategy's thread panicked"));
        runs.extend(others);
        (read, runs)
    });
    runs.sort_by_key(|(index, _)| *index);
    let runs = runs.into_iter().map(|(_, ran)| ran).collect();
    Ok((read.map(|_| reader), runs))
}

/// Decodes chunks and sends each, in pieces of at most [`CHUNK`]
/// messages, to every worker still running, then [`Piece::End`] if the
/// trace was read to its end, and runs `own` engines over each chunk;
/// stops early once no engine is left. Dropping the senders ends the
/// workers' input. Whether the trace was read to its end.
///
/// A chunk every worker is done with comes back to the reader
/// ([`TraceReader::recycle`]): the next chunk is decoded over it, so its
/// messages are dropped and its memory freed on this thread, and the
/// memory is reused while it is still mapped (a new chunk's pages would
/// each fault in).
fn feed<R: std::io::Read, O: Observer>(
    reader: &mut TraceReader<R>,
    mut senders: Vec<Option<SyncSender<Piece>>>,
    path: &Path,
    own: &mut [Engine<'_, O>],
) -> Result<bool> {
    let mut send = |piece: &dyn Fn() -> Piece| {
        for slot in &mut senders {
            // A worker whose strategies all stopped (on errors) takes no more.
            if slot.as_ref().is_some_and(|s| s.send(piece()).is_err()) {
                *slot = None;
            }
        }
        senders.iter().any(Option::is_some)
    };
    // Chunks sent, oldest first: the workers finish them in that order.
    let mut sent = VecDeque::new();
    while let Some(batch) = reader.next_batch() {
        let mut batch = batch.with_context(|| path.display().to_string())?;
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(CHUNK));
            let chunk = Arc::new(std::mem::replace(&mut batch, rest));
            let others = send(&|| Piece::Messages(Arc::clone(&chunk)));
            if !run(own, &chunk) && !others {
                return Ok(false);
            }
            sent.push_back(chunk);
        }
        recycle_done(&mut sent, reader);
    }
    send(&|| Piece::End);
    Ok(true)
}

/// Hands the reader the oldest chunks of `sent` that no worker holds any
/// more.
fn recycle_done<R: std::io::Read>(sent: &mut VecDeque<Chunk>, reader: &mut TraceReader<R>) {
    while let Some(chunk) = sent.pop_front() {
        match Arc::try_unwrap(chunk) {
            Ok(batch) => reader.recycle(batch),
            Err(chunk) => {
                sent.push_front(chunk);
                return;
            }
        }
    }
}

/// Runs `engines` over `chunk`, a slice at a time, each engine in turn;
/// whether any engine is still running.
fn run<O: Observer>(engines: &mut [Engine<'_, O>], chunk: &[Message]) -> bool {
    for slice in chunk.chunks(SLICE) {
        engines.iter_mut().for_each(|engine| engine.push(slice));
    }
    engines.iter().any(|engine| engine.refused.is_none())
}

/// A strategy given to a worker: its place in the order asked, its label
/// as written, and its observer.
struct Lane<'a, O> {
    index: usize,
    label: &'a str,
    spec: &'a StrategySpec,
    observer: O,
}

/// One strategy's engine on a worker, with its margin check and the
/// error that stopped it.
struct Engine<'a, O: Observer> {
    simulator: Simulator<'a, Box<dyn Strategy>, O>,
    margins: Option<MarginCheck>,
    refused: Option<SimError>,
}

impl<O: Observer> Engine<'_, O> {
    /// Simulates `messages`, unless an earlier one was refused.
    fn push(&mut self, messages: &[Message]) {
        if self.refused.is_some() {
            return;
        }
        // The engine borrows the shared chunk's messages: it copies one
        // only where it keeps it (queued in the kernel, held by the
        // closed loop). Margins are checked only for guards: the loop
        // without them tests nothing else per message.
        let simulator = &mut self.simulator;
        let pushed = match &mut self.margins {
            None => messages.iter().try_for_each(|m| simulator.push(m)),
            Some(margins) => messages.iter().try_for_each(|m| {
                margins.add(m);
                simulator.push(m)
            }),
        };
        self.refused = pushed.err();
    }

    /// How the run ended; `ended`: the trace was read to its end.
    fn finish(self, ended: bool, context: impl Fn() -> String) -> Ran {
        if let Some(error) = self.refused {
            return Ran::Refused(anyhow::Error::new(error).context(context()));
        }
        if !ended {
            return Ran::Unfinished;
        }
        let keys = self.simulator.kernel_counts();
        let warnings = self.margins.iter().flat_map(|m| m.warnings());
        Ran::Finished {
            warnings: warnings.map(|w| w.to_string()).collect(),
            keys,
            result: self.simulator.finish().map(Box::new).with_context(context),
        }
    }
}

/// One worker: runs its strategies' engines over every chunk, a slice at
/// a time, each engine in turn; how each run ended, with its index.
fn work<O: Observer>(
    pieces: Receiver<Piece>,
    lanes: Vec<Lane<'_, O>>,
    path: &Path,
    model: &Model,
) -> Vec<(usize, Ran)> {
    with_engines(lanes, path, model, |engines| {
        for piece in pieces {
            match piece {
                Piece::Messages(chunk) if run(engines, &chunk) => {}
                Piece::Messages(_) => return false,
                Piece::End => return true,
            }
        }
        false
    })
}

/// Builds the engines of `lanes`, lets `body` run them (true: the trace
/// was read to its end), and finishes them: how each run ended, with its
/// index.
fn with_engines<O: Observer>(
    lanes: Vec<Lane<'_, O>>,
    path: &Path,
    model: &Model,
    body: impl FnOnce(&mut [Engine<'_, O>]) -> bool,
) -> Vec<(usize, Ran)> {
    let mut strategies: Vec<Box<dyn Strategy>> = lanes.iter().map(|l| l.spec.build()).collect();
    let (mut engines, mut named) = (Vec::new(), Vec::new());
    for (strategy, lane) in strategies.iter_mut().zip(lanes) {
        let config = model.config.clone();
        engines.push(Engine {
            simulator: Simulator::new(strategy, &model.cost, config, lane.observer),
            margins: MarginCheck::new(lane.spec),
            refused: None,
        });
        named.push((lane.index, lane.label));
    }
    let ended = body(&mut engines);
    let runs = engines.into_iter().zip(named);
    runs.map(|(engine, (index, label))| {
        let context = || format!("{}: {label}", path.display());
        let mut ran = engine.finish(ended, context);
        if let Ran::Finished { result: Ok(r), .. } = &mut ran {
            r.strategy = label.trim().to_owned();
        }
        (index, ran)
    })
    .collect()
}

/// The most memory `sweep` spends on a copy of the trace: 1 GiB, 22.3 M
/// messages with service times (48 bytes each), fewer with more time
/// fields ([`MemoryCopy`]). Longer traces are decoded again by every
/// probe; one whose footer says so is not copied at all.
pub(in crate::commands) const SWEEP_MEMORY: usize = 1 << 30;

/// `sweep`'s first pass: errors name the file, guard margins that swallow
/// whole budgets are warned of, and losses if `warn`; the [`Bounds`], the
/// trace in memory if it fits, and what the read found of its
/// completeness.
pub(in crate::commands) fn measure(
    path: &Path,
    label: &str,
    spec: &StrategySpec,
    model: &Model,
    warn: bool,
) -> Result<(Bounds, Option<MemoryCopy>, Integrity)> {
    let reader = open_trace_tracked(path, model.salvage, &model.progress)?;
    let mut messages = ReadAhead::spawn(reader.fields(model.fields())).context("a thread")?;
    let mut margins = MarginCheck::new(spec);
    let mut bounds = Bounds::default();
    // The copy leaves paths out: only when the model reads none, and the
    // trace's footer, if it has one, does not say it is too long.
    let may_fit = expected_messages(path).is_none_or(|n| MemoryCopy::may_hold(n, SWEEP_MEMORY));
    let copied = model.fields() == Fields::Timing && may_fit;
    let mut copy = copied.then(|| MemoryCopy::new(SWEEP_MEMORY));
    for message in messages.by_ref() {
        let message = message.with_context(|| path.display().to_string())?;
        if let Some(margins) = &mut margins {
            margins.add(&message);
        }
        bounds
            .add(&message, &model.cost)
            .with_context(|| path.display().to_string())?;
        if copy.as_mut().is_some_and(|copy| !copy.push(&message)) {
            copy = None;
        }
    }
    let reader = messages.finish();
    for warning in margins.iter().flat_map(|check| check.warnings()) {
        eprintln!("esreplay: warning: {}: {warning}", label.trim());
    }
    if warn {
        warn_about_losses(path, &reader);
    }
    Ok((bounds, copy, Integrity::of(&reader)))
}

/// The messages the footer of the trace at `path` counts, if it is a
/// regular file (a pipe cannot be read twice) whose writer finished (read
/// up front, seeking past the chunks; any damage is the streaming read's
/// to report).
fn expected_messages(path: &Path) -> Option<u64> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let footer = read_footer(std::io::BufReader::new(file)).ok()??;
    Some(footer.messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Progress;
    use esreplay_simulator::{CostModel, SimConfig};
    use esreplay_traces::synth::{GenOptions, Scenario};
    use esreplay_traces::{Header, TraceWriter};

    /// A steady trace of 0.5 s at 20 000 messages/s (paths and service
    /// times), written to `dir`; `edit` may change its messages.
    fn trace(dir: &Path, name: &str, edit: impl Fn(&mut Message)) -> std::path::PathBuf {
        let mut options = GenOptions::new(Scenario::Steady);
        options.rate_per_s = 20_000.0;
        options.duration_ns = 500_000_000;
        let mut generated = TraceWriter::new(Vec::new(), &Header::default()).unwrap();
        options.write_to(&mut generated).unwrap();
        let bytes = generated.finish().unwrap();
        let path = dir.join(name);
        let mut writer = TraceWriter::create(&path, &Header::default()).unwrap();
        for message in TraceReader::new(&bytes[..]).unwrap() {
            let mut message = message.unwrap();
            edit(&mut message);
            writer.write(&message).unwrap();
        }
        writer.finish().unwrap();
        path
    }

    fn model(cost: &str) -> Model {
        Model {
            cost: CostModel::parse(cost).unwrap(),
            config: SimConfig::default(),
            salvage: false,
            progress: Progress::hidden(),
        }
    }

    const STRATEGIES: [&str; 6] = [
        "inline",
        "pool:1",
        "pool:2",
        "edf:2",
        "guard:1s:pool:2",
        "guard:30s:edf:1",
    ];

    /// Every run's result as JSON, or its error, on `threads` threads.
    fn runs_on(threads: usize, path: &Path, model: &Model) -> (bool, Vec<String>) {
        let labels: Vec<String> = STRATEGIES.iter().map(|s| s.to_string()).collect();
        let specs: Vec<StrategySpec> = STRATEGIES.iter().map(|s| s.parse().unwrap()).collect();
        let observers = vec![(); specs.len()];
        let (read, runs) = fan_out(threads, path, &labels, &specs, model, observers).unwrap();
        let shown = runs.into_iter().map(|ran| match ran {
            Ran::Refused(error) => format!("refused: {error:#}"),
            Ran::Unfinished => "unfinished".to_owned(),
            Ran::Finished {
                result, warnings, ..
            } => {
                let result = result.map(|r| serde_json::to_string(&r).unwrap());
                format!("{:?} {warnings:?}", result.map_err(|e| format!("{e:#}")))
            }
        });
        (read.is_ok(), shown.collect())
    }

    #[test]
    fn the_expected_messages_are_the_footers_and_none_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = trace(dir.path(), "whole.estrace", |_| {});
        let messages = TraceReader::new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .count() as u64;
        assert!(messages > 9_000);
        assert_eq!(expected_messages(&path), Some(messages));
        // Cut before its footer: the writer did not finish.
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.estrace");
        std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
        assert_eq!(expected_messages(&cut), None);
        assert_eq!(expected_messages(&dir.path().join("absent")), None);
        // Not a regular file: nothing is read from it.
        assert_eq!(expected_messages(dir.path()), None);
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads_and_match_single_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = trace(dir.path(), "steady.estrace", |_| {});
        // 2 ms per message at 20 000/s: pool:1 and inline miss budgets.
        let model = model("const:2ms");
        let (read, one) = runs_on(1, &path, &model);
        assert!(read);
        for threads in [2, 3, 6, 8] {
            assert_eq!(
                runs_on(threads, &path, &model),
                (true, one.clone()),
                "{threads} threads"
            );
        }
        for (label, shown) in STRATEGIES.iter().zip(&one) {
            let spec = label.parse().unwrap();
            let (alone, _) = super::super::run_one(&path, label, &spec, &model, false).unwrap();
            let alone = serde_json::to_string(&alone).unwrap();
            assert!(
                shown.starts_with(&format!("Ok({alone:?})")),
                "{label}: {shown}"
            );
        }
        assert!(
            one[5].contains("guard margin 30.0s is not below"),
            "{}",
            one[5]
        );
        // pool:1 misses (the results are worth comparing).
        let misses =
            |shown: &str| shown.contains(r#"\"misses\":"#) && !shown.contains(r#"\"misses\":0,"#);
        assert!(misses(&one[1]), "{}", one[1]);
    }

    #[test]
    fn a_refusing_engine_stops_its_run_and_a_cut_trace_finishes_none() {
        let dir = tempfile::tempdir().unwrap();
        // Message 3000 has no service time: `--cost trace` refuses it.
        let path = trace(dir.path(), "gap.estrace", |m| {
            if m.global_seq == 3000 {
                m.service_ns = None;
            }
        });
        for threads in [1, 2, 4] {
            let (_, runs) = runs_on(threads, &path, &model("trace"));
            for (label, shown) in STRATEGIES.iter().zip(&runs) {
                assert!(shown.starts_with(&format!("refused: {}: {label}: ", path.display())));
                assert!(shown.contains("global_seq 3000"), "{shown}");
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.estrace");
        std::fs::write(&cut, &bytes[..bytes.len() / 5]).unwrap();
        for threads in [1, 2, 4] {
            // Cut before message 3000: every run read all there is.
            let (read, runs) = runs_on(threads, &cut, &model("trace"));
            assert!(read);
            assert!(
                runs.iter().all(|shown| shown.starts_with("Ok(")),
                "{runs:?}"
            );
        }
        let mut damaged = bytes.clone();
        damaged[bytes.len() / 2] ^= 0x10;
        std::fs::write(&cut, &damaged).unwrap();
        for threads in [1, 2, 4] {
            let (read, runs) = runs_on(threads, &cut, &model("const:1us"));
            assert!(!read);
            assert!(runs.iter().all(|shown| shown == "unfinished"), "{runs:?}");
        }
    }
}
