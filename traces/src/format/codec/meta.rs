//! The header (kind 1) and footer (kind 3) payloads.
//!
//! ```text
//! header = source u8, timebase_numer u32, timebase_denom u32,
//!          start (u64, u64, u64), os_version Option<string>,
//!          os_build Option<string>, hardware_model Option<string>,
//!          cpu_count Option<u32>, subscribed Vec<u16>, tool string,
//!          tool_version string, meta Vec<(string, string)>
//! footer = messages u64, chunks u64, dropped u64,
//!          end Option<(u64, u64, u64)>, meta Vec<(string, string)>
//! ```

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

use super::{CodecError, decode_value, encode_value};
use crate::event::EventType;
use crate::model::{ClockAnchor, Footer, Header, Source, Timebase};

/// The header as stored: see `docs/trace-format.md`.
#[derive(Encode, Decode)]
struct HeaderWire {
    source: u8,
    timebase_numer: u32,
    timebase_denom: u32,
    start: (u64, u64, u64),
    os_version: Option<String>,
    os_build: Option<String>,
    hardware_model: Option<String>,
    cpu_count: Option<u32>,
    subscribed: Vec<u16>,
    tool: String,
    tool_version: String,
    meta: Vec<(String, String)>,
}

/// The footer as stored.
#[derive(Encode, Decode)]
struct FooterWire {
    messages: u64,
    chunks: u64,
    dropped: u64,
    end: Option<(u64, u64, u64)>,
    meta: Vec<(String, String)>,
}

fn anchor_wire(anchor: &ClockAnchor) -> (u64, u64, u64) {
    (anchor.mach_absolute, anchor.mach_continuous, anchor.wall_ns)
}

fn anchor_model((mach_absolute, mach_continuous, wall_ns): (u64, u64, u64)) -> ClockAnchor {
    ClockAnchor {
        mach_absolute,
        mach_continuous,
        wall_ns,
    }
}

fn meta_wire(meta: &BTreeMap<String, String>) -> Vec<(String, String)> {
    meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Encodes a header payload into `out` (cleared first).
pub fn encode_header(header: &Header, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let wire = HeaderWire {
        source: header.source.map_or(0, Source::code),
        timebase_numer: header.timebase.numer,
        timebase_denom: header.timebase.denom,
        start: anchor_wire(&header.start),
        os_version: header.os_version.clone(),
        os_build: header.os_build.clone(),
        hardware_model: header.hardware_model.clone(),
        cpu_count: header.cpu_count,
        subscribed: header.subscribed.iter().map(|event| event.0).collect(),
        tool: header.tool.clone(),
        tool_version: header.tool_version.clone(),
        meta: meta_wire(&header.meta),
    };
    encode_value(&wire, out)
}

/// Decodes a header payload.
pub fn decode_header(payload: &[u8]) -> Result<Header, CodecError> {
    let wire: HeaderWire = decode_value(payload)?;
    Ok(Header {
        source: (wire.source != 0).then(|| Source::from_code(wire.source)),
        timebase: Timebase {
            numer: wire.timebase_numer,
            denom: wire.timebase_denom,
        },
        start: anchor_model(wire.start),
        os_version: wire.os_version,
        os_build: wire.os_build,
        hardware_model: wire.hardware_model,
        cpu_count: wire.cpu_count,
        subscribed: wire.subscribed.into_iter().map(EventType).collect(),
        tool: wire.tool,
        tool_version: wire.tool_version,
        meta: wire.meta.into_iter().collect(),
    })
}

/// Encodes a footer payload into `out` (cleared first).
pub fn encode_footer(footer: &Footer, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let wire = FooterWire {
        messages: footer.messages,
        chunks: footer.chunks,
        dropped: footer.dropped,
        end: footer.end.as_ref().map(anchor_wire),
        meta: meta_wire(&footer_meta(footer)),
    };
    encode_value(&wire, out)
}

/// The footer meta key that stores [`Footer::es_gaps`] (so that the wire
/// stays as in version 1.0).
const ES_GAPS_KEY: &str = "es_gaps";

fn footer_meta(footer: &Footer) -> BTreeMap<String, String> {
    let mut meta = footer.meta.clone();
    if let Some(gaps) = footer.es_gaps {
        meta.insert(ES_GAPS_KEY.into(), gaps.to_string());
    }
    meta
}

/// Decodes a footer payload.
pub fn decode_footer(payload: &[u8]) -> Result<Footer, CodecError> {
    let wire: FooterWire = decode_value(payload)?;
    let mut meta: BTreeMap<String, String> = wire.meta.into_iter().collect();
    let es_gaps = meta.remove(ES_GAPS_KEY).and_then(|gaps| gaps.parse().ok());
    Ok(Footer {
        messages: wire.messages,
        chunks: wire.chunks,
        dropped: wire.dropped,
        es_gaps,
        end: wire.end.map(anchor_model),
        meta,
    })
}
