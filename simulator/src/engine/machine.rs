//! `--machine FILE`: a machine's measured costs, in TOML, so that a
//! calibration made once is reused everywhere (flags override it).
//!
//! ```toml
//! transport = "20us"          # τ
//! response_latency = "15us"   # ρ
//! handoff = "2us"             # c_h
//! handler_overhead = "5us"
//! worker_overhead = "8us"
//! cores = 2                   # C (up to 3 decimals)
//! background = 0.5            # B, or "trace"
//! cpu_sharing = "per-core"    # or "fluid"
//! ```
//!
//! Every key is optional; unknown keys are an error (a typo must not pass
//! silently).

use esreplay_traces::parse_duration_ns;
use serde::Deserialize;

/// The background as the file gives it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MachineBackground {
    /// A number of runnable threads.
    Constant(f64),
    /// `"trace"`: the trace's CPU track.
    Named(String),
}

/// A parsed machine file; durations in ns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Machine {
    /// τ.
    pub transport_ns: Option<u64>,
    /// ρ.
    pub response_latency_ns: Option<u64>,
    /// c_h.
    pub handoff_ns: Option<u64>,
    /// Handler overhead per message.
    pub handler_overhead_ns: Option<u64>,
    /// Worker overhead per job.
    pub worker_overhead_ns: Option<u64>,
    /// C.
    pub cores: Option<f64>,
    /// B.
    pub background: Option<MachineBackground>,
    /// How the threads share the cores.
    pub cpu_sharing: Option<super::cpu::Sharing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    transport: Option<String>,
    response_latency: Option<String>,
    handoff: Option<String>,
    handler_overhead: Option<String>,
    worker_overhead: Option<String>,
    cores: Option<f64>,
    background: Option<MachineBackground>,
    cpu_sharing: Option<String>,
}

/// A machine file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// Not TOML of the expected shape.
    #[error("not a machine file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A duration that does not parse.
    #[error("{key}: {reason}")]
    Duration {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A `cpu_sharing` that is neither `per-core` nor `fluid`.
    #[error("cpu_sharing: {0}")]
    Sharing(String),
}

impl Machine {
    /// Parses a machine file's text.
    pub fn parse(text: &str) -> Result<Machine, MachineError> {
        let raw: Raw = toml::from_str(text)?;
        let duration = |key: &'static str, value: Option<String>| {
            value
                .map(|text| parse_duration_ns(&text))
                .transpose()
                .map_err(|e| MachineError::Duration {
                    key,
                    reason: e.to_string(),
                })
        };
        Ok(Machine {
            transport_ns: duration("transport", raw.transport)?,
            response_latency_ns: duration("response_latency", raw.response_latency)?,
            handoff_ns: duration("handoff", raw.handoff)?,
            handler_overhead_ns: duration("handler_overhead", raw.handler_overhead)?,
            worker_overhead_ns: duration("worker_overhead", raw.worker_overhead)?,
            cores: raw.cores,
            background: raw.background,
            cpu_sharing: raw
                .cpu_sharing
                .map(|text| text.parse())
                .transpose()
                .map_err(MachineError::Sharing)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_rejects_unknown_ones() {
        let machine = Machine::parse(
            "transport = \"20us\"\nresponse_latency = \"1ms\"\nhandoff = \"2us\"\n\
             handler_overhead = \"5us\"\nworker_overhead = \"8us\"\ncores = 1.5\nbackground = \"trace\"\n",
        )
        .unwrap();
        assert_eq!(machine.transport_ns, Some(20_000));
        assert_eq!(machine.response_latency_ns, Some(1_000_000));
        assert_eq!(machine.worker_overhead_ns, Some(8_000));
        assert_eq!(machine.cores, Some(1.5));
        assert_eq!(
            machine.background,
            Some(MachineBackground::Named("trace".into()))
        );
        let constant = Machine::parse("background = 2").unwrap();
        assert_eq!(constant.background, Some(MachineBackground::Constant(2.0)));
        assert!(Machine::parse("cores = 2\ntransprot = \"1us\"").is_err());
        let fluid = Machine::parse("cpu_sharing = \"fluid\"").unwrap();
        assert_eq!(fluid.cpu_sharing, Some(super::super::cpu::Sharing::Fluid));
        let error = Machine::parse("cpu_sharing = \"fair\"").unwrap_err();
        assert!(error.to_string().starts_with("cpu_sharing:"), "{error}");
        let error = Machine::parse("handoff = \"fast\"").unwrap_err();
        assert!(error.to_string().starts_with("handoff:"), "{error}");
    }
}
