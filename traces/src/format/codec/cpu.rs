//! The CPU track frame (kind 5, format 1.1): samples of the machine's
//! other load.
//!
//! ```text
//! cpu    = period_ns u64, count u64, count × (t_delta u64, runnable u32)
//! ```
//!
//! `period_ns` is the nominal sampling period (0 when unknown); `t_delta`
//! is the sample time minus the previous sample's in this frame (the first:
//! minus 0), in wrapping u64 arithmetic (samples are in time order, so the
//! delta is the period, a byte or four), ns since trace time 0; `runnable` is b_k, the
//! runnable threads of other processes. At most [`MAX_SAMPLES`] samples a
//! frame.

use bincode::{Decode, Encode};

use super::{CodecError, decode_value, encode_value};
use crate::cpu::CpuSample;

/// The most samples one CPU frame holds (writers split longer runs).
pub const MAX_SAMPLES: usize = 1 << 16;

#[derive(Encode, Decode)]
struct CpuWire {
    period_ns: u64,
    samples: Vec<(u64, u32)>,
}

/// A decoded CPU frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuFrame {
    /// Nominal sampling period, ns (0 when unknown).
    pub period_ns: u64,
    /// The samples, in the order written.
    pub samples: Vec<CpuSample>,
}

/// Encodes a CPU frame payload into `out` (cleared first).
pub fn encode_cpu(
    period_ns: u64,
    samples: &[CpuSample],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if samples.len() > MAX_SAMPLES {
        return Err(CodecError::TooManySamples(samples.len()));
    }
    let mut previous = 0u64;
    let wire = CpuWire {
        period_ns,
        samples: samples
            .iter()
            .map(|sample| {
                let step = sample.t_ns.wrapping_sub(previous);
                previous = sample.t_ns;
                (step, sample.runnable)
            })
            .collect(),
    };
    encode_value(&wire, out)
}

/// Decodes a CPU frame payload.
pub fn decode_cpu(payload: &[u8]) -> Result<CpuFrame, CodecError> {
    let wire: CpuWire = decode_value(payload)?;
    if wire.samples.len() > MAX_SAMPLES {
        return Err(CodecError::TooManySamples(wire.samples.len()));
    }
    let mut previous = 0u64;
    let samples = wire
        .samples
        .into_iter()
        .map(|(step, runnable)| {
            previous = previous.wrapping_add(step);
            CpuSample {
                t_ns: previous,
                runnable,
            }
        })
        .collect();
    Ok(CpuFrame {
        period_ns: wire.period_ns,
        samples,
    })
}
