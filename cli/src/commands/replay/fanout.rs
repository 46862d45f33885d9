//! Reading a trace once for many simulations.
//!
//! - [`run_all`] (`compare`, `report`): the calling thread decodes the
//!   trace in chunks of [`CHUNK`] messages and hands each chunk, shared
//!   (`Arc`), to one thread per strategy through a channel holding at most
//!   [`IN_FLIGHT`] chunks; the operating system spreads the strategy
//!   threads over the cores. The reader waits for the slowest strategy, so
//!   at most (strategies × [`IN_FLIGHT`] + strategies + 1) chunks are
//!   alive at once, whatever the trace's length.
//! - [`measure`] (`sweep`): one pass that checks the trace, measures the
//!   sweep's [`Bounds`] and keeps a [`LeanCopy`] of it (without paths)
//!   in memory when it fits in [`SWEEP_MEMORY`], so probes need not decode
//!   the file again.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result};
use esreplay_simulator::margins::MarginCheck;
use esreplay_simulator::sweep::Bounds;
use esreplay_simulator::{Observer, SimResult, Simulator, StrategySpec};
use esreplay_traces::{Action, EventType, Fields, Message, TraceError, TraceReader};

use super::super::{Integrity, open_trace_tracked, warn_about_losses};
use super::Model;
use super::ahead::ReadAhead;

/// Messages per chunk handed to the strategies.
const CHUNK: usize = 4096;
/// Chunks waiting in each strategy's channel, at most.
const IN_FLIGHT: usize = 4;

type Chunk = Arc<Vec<Message>>;

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
    let reader = open_trace_tracked(path, model.salvage, &model.progress)?;
    let mut reader = reader.fields(model.fields());
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(specs.len());
        let mut runs = Vec::with_capacity(specs.len());
        for ((label, spec), observer) in labels.iter().zip(specs).zip(observers) {
            let (sender, chunks) = sync_channel::<Chunk>(IN_FLIGHT);
            senders.push(Some(sender));
            runs.push(scope.spawn(move || simulate(chunks, path, label, spec, model, observer)));
        }
        let read = feed(&mut reader, senders, path);
        let results: Vec<Result<(SimResult, Vec<String>)>> = runs
            .into_iter()
            .map(|run| run.join().expect("a strategy's thread panicked"))
            .collect();
        read?;
        let results = results.into_iter().collect::<Result<Vec<_>>>()?;
        for (label, (_, warnings)) in labels.iter().zip(&results) {
            for warning in warnings {
                eprintln!("esreplay: warning: {}: {warning}", label.trim());
            }
        }
        warn_about_losses(path, &reader);
        let results = results.into_iter().map(|(result, _)| result).collect();
        Ok((results, Integrity::of(&reader)))
    })
}

/// Decodes chunks and sends each, in pieces of at most [`CHUNK`]
/// messages, to every strategy still running; stops early once none is.
/// Dropping the senders ends the strategies' input.
fn feed<R: std::io::Read>(
    reader: &mut TraceReader<R>,
    mut senders: Vec<Option<SyncSender<Chunk>>>,
    path: &Path,
) -> Result<()> {
    while let Some(batch) = reader.next_batch() {
        let mut batch = batch.with_context(|| path.display().to_string())?;
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(CHUNK));
            let chunk = Arc::new(std::mem::replace(&mut batch, rest));
            for slot in &mut senders {
                // A strategy that stopped (on an error) takes no more.
                if slot
                    .as_ref()
                    .is_some_and(|s| s.send(Arc::clone(&chunk)).is_err())
                {
                    *slot = None;
                }
            }
            if senders.iter().all(Option::is_none) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One strategy's thread: simulates every message of every chunk; the
/// result and the guard margin warnings.
fn simulate<O: Observer>(
    chunks: Receiver<Chunk>,
    path: &Path,
    label: &str,
    spec: &StrategySpec,
    model: &Model,
    observer: O,
) -> Result<(SimResult, Vec<String>)> {
    let mut margins = MarginCheck::new(spec);
    let mut strategy = spec.build();
    let config = model.config.clone();
    let mut simulator = Simulator::new(&mut strategy, &model.cost, config, observer);
    let context = || format!("{}: {label}", path.display());
    for chunk in chunks {
        // Every strategy borrows the shared chunk's messages: the engine
        // copies one only where it keeps it (queued in the kernel, held
        // by the closed loop).
        let pushed = chunk.iter().try_for_each(|message| {
            if let Some(margins) = &mut margins {
                margins.add(message);
            }
            simulator.push(message)
        });
        if let Err(error) = pushed {
            return Err(anyhow::Error::new(error).context(context()));
        }
    }
    let mut result = simulator.finish().with_context(context)?;
    result.strategy = label.trim().to_owned();
    let warnings = margins.iter().flat_map(|m| m.warnings());
    Ok((result, warnings.map(|w| w.to_string()).collect()))
}

/// The most memory `sweep` spends on a decoded copy of the trace:
/// 1 GiB, about 14.9 M messages of 72 bytes ([`Lean`]). Longer traces are
/// decoded again by every probe.
pub(in crate::commands) const SWEEP_MEMORY: usize = 1 << 30;

/// Messages per block of a [`LeanCopy`] (no reallocation of the whole).
const BLOCK: usize = 1 << 16;

/// A message read with [`Fields::Timing`] (no strings, no boxed details):
/// every field the engine, the cost models and the built-in strategies
/// read, the thread id and response time of closed replay included.
struct Lean {
    global_seq: u64,
    seq: u64,
    arrival_ns: u64,
    deadline_ns: u64,
    received_ns: u64,
    service_ns: u64,
    thread_id: u64,
    response_ns: u64,
    pid: u32,
    event: EventType,
    action: Action,
    /// Which optional fields are present: bits of [`DEADLINE`] and co.
    present: u8,
}

const DEADLINE: u8 = 1;
const RECEIVED: u8 = 2;
const SERVICE: u8 = 4;
const PID: u8 = 8;
const THREAD_ID: u8 = 16;
const RESPONSE: u8 = 32;
const IS_ES_CLIENT: u8 = 64;
/// With [`IS_ES_CLIENT`]: the flag is true.
const ES_CLIENT: u8 = 128;

impl Lean {
    fn new(m: &Message) -> Lean {
        let bit = |present: bool, bit: u8| if present { bit } else { 0 };
        Lean {
            global_seq: m.global_seq,
            seq: m.seq,
            arrival_ns: m.arrival_ns,
            deadline_ns: m.deadline_ns.unwrap_or(0),
            received_ns: m.received_ns.unwrap_or(0),
            service_ns: m.service_ns.unwrap_or(0),
            thread_id: m.thread_id.unwrap_or(0),
            response_ns: m.response_ns.unwrap_or(0),
            pid: m.pid.unwrap_or(0),
            event: m.event,
            action: m.action,
            present: bit(m.deadline_ns.is_some(), DEADLINE)
                | bit(m.received_ns.is_some(), RECEIVED)
                | bit(m.service_ns.is_some(), SERVICE)
                | bit(m.pid.is_some(), PID)
                | bit(m.thread_id.is_some(), THREAD_ID)
                | bit(m.response_ns.is_some(), RESPONSE)
                | bit(m.is_es_client.is_some(), IS_ES_CLIENT)
                | bit(m.is_es_client == Some(true), ES_CLIENT),
        }
    }

    fn message(&self) -> Message {
        let has = |bit: u8| self.present & bit != 0;
        let mut m = Message::new(self.global_seq, self.event, self.action, self.arrival_ns);
        m.seq = self.seq;
        m.deadline_ns = has(DEADLINE).then_some(self.deadline_ns);
        m.received_ns = has(RECEIVED).then_some(self.received_ns);
        m.service_ns = has(SERVICE).then_some(self.service_ns);
        m.pid = has(PID).then_some(self.pid);
        m.thread_id = has(THREAD_ID).then_some(self.thread_id);
        m.response_ns = has(RESPONSE).then_some(self.response_ns);
        m.is_es_client = has(IS_ES_CLIENT).then_some(has(ES_CLIENT));
        m
    }
}

/// A trace decoded into memory, without strings and boxed details.
#[derive(Default)]
pub(in crate::commands) struct LeanCopy {
    blocks: Vec<Vec<Lean>>,
    /// Bytes held, as estimated for [`SWEEP_MEMORY`].
    bytes: usize,
}

impl LeanCopy {
    /// Adds `message`; false (and nothing added) past [`SWEEP_MEMORY`].
    fn push(&mut self, message: &Message) -> bool {
        let bytes = self.bytes + size_of::<Lean>();
        if bytes > SWEEP_MEMORY {
            return false;
        }
        if self.blocks.last().is_none_or(|b| b.len() == BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        let block = self.blocks.last_mut().expect("a block with room");
        block.push(Lean::new(message));
        self.bytes = bytes;
        true
    }

    /// The messages again, in stream order.
    pub(in crate::commands) fn messages(
        &self,
    ) -> impl Iterator<Item = Result<Message, TraceError>> + '_ {
        self.blocks.iter().flatten().map(|lean| Ok(lean.message()))
    }
}

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
) -> Result<(Bounds, Option<LeanCopy>, Integrity)> {
    let reader = open_trace_tracked(path, model.salvage, &model.progress)?;
    let mut messages = ReadAhead::spawn(reader.fields(model.fields())).context("a thread")?;
    let mut margins = MarginCheck::new(spec);
    let mut bounds = Bounds::default();
    // The copy leaves paths out: only when the model reads none.
    let mut copy = (model.fields() == Fields::Timing).then(LeanCopy::default);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lean_message_keeps_every_field_a_simulation_reads() {
        let mut full = Message::new(7, EventType::AUTH_EXEC, Action::Auth, 1_000);
        full.seq = 3;
        full.deadline_ns = Some(0);
        full.service_ns = Some(u64::MAX);
        full.pid = Some(42);
        full.thread_id = Some(u64::MAX);
        full.response_ns = Some(0);
        full.is_es_client = Some(false);
        assert_eq!(Lean::new(&full).message(), full);
        full.is_es_client = Some(true);
        assert_eq!(Lean::new(&full).message(), full);
        let bare = Message::new(8, EventType::NOTIFY_EXIT, Action::Notify, 5);
        assert_eq!(Lean::new(&bare).message(), bare);
        assert_eq!(size_of::<Lean>(), 72);
    }
}
