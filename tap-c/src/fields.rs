//! The plain-fields description of a message (`esr_message_fields`), for
//! callers without an `es_message_t` (tests, other OSes, or a client that
//! reads the message itself), and its copy into a record.

use esreplay_recorder::RawMessage;
use std::ffi::c_char;

/// `deadline` is set.
pub const ESR_HAS_DEADLINE: u32 = 1 << 0;
/// `seq_num` is set (ES message version ≥ 2).
pub const ESR_HAS_SEQ_NUM: u32 = 1 << 1;
/// `global_seq_num` is set (ES message version ≥ 4).
pub const ESR_HAS_GLOBAL_SEQ_NUM: u32 = 1 << 2;
/// `thread_id` is set.
pub const ESR_HAS_THREAD_ID: u32 = 1 << 3;
/// `pid` is set.
pub const ESR_HAS_PID: u32 = 1 << 4;

/// One message as plain fields. Times are ticks of `esr_now()`
/// (`mach_absolute_time` on macOS). Zero-initialise it and set what you
/// have; optional fields count only with their `ESR_HAS_*` bit in
/// `present`; a NULL path is absent. Paths are copied (up to 256 bytes,
/// longer ones are marked truncated), not kept.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct esr_message_fields {
    /// `ESR_HAS_*` bits: which optional fields are set.
    pub present: u32,
    /// ES message version (0: unknown).
    pub version: u32,
    /// ES event type number (`es_event_type_t`), below 65536.
    pub event_type: u32,
    /// AUTH (true) or NOTIFY (false).
    pub auth: bool,
    /// Kernel time of the message (`es_message_t.mach_time`).
    pub mach_time: u64,
    /// AUTH deadline (`es_message_t.deadline`).
    pub deadline: u64,
    /// Per-event-type sequence number (`seq_num`).
    pub seq_num: u64,
    /// Client-wide sequence number (`global_seq_num`).
    pub global_seq_num: u64,
    /// Thread that caused the event.
    pub thread_id: u64,
    /// Process id of the process that caused the event.
    pub pid: i32,
    /// Executable path of that process (not NUL-terminated), or NULL.
    pub process_path: *const c_char,
    /// Bytes of `process_path`.
    pub process_path_len: usize,
    /// The file the event is about, or NULL.
    pub target_path: *const c_char,
    /// Bytes of `target_path`.
    pub target_path_len: usize,
}

/// The bytes of a (pointer, length) pair, `None` for NULL.
///
/// # Safety
///
/// `ptr` is NULL or readable for `len` bytes.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    // Safety: readable for `len` bytes, by the contract.
    (!ptr.is_null()).then(|| unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Fills `raw` (a default record) from `fields`; `false` when the event
/// type is out of range.
///
/// # Safety
///
/// The paths of `fields` are NULL or readable for their lengths.
#[inline]
pub(crate) unsafe fn fill_raw(
    raw: &mut RawMessage,
    fields: &esr_message_fields,
    no_paths: bool,
) -> bool {
    let has = |bit: u32| fields.present & bit != 0;
    let Ok(event) = u16::try_from(fields.event_type) else {
        return false;
    };
    raw.mach_time = fields.mach_time;
    raw.deadline = has(ESR_HAS_DEADLINE).then_some(fields.deadline);
    raw.seq = has(ESR_HAS_SEQ_NUM).then_some(fields.seq_num);
    raw.global_seq = has(ESR_HAS_GLOBAL_SEQ_NUM).then_some(fields.global_seq_num);
    raw.event = event;
    raw.auth = fields.auth;
    raw.pid = has(ESR_HAS_PID)
        .then(|| u32::try_from(fields.pid).ok())
        .flatten();
    raw.details.message_version = (fields.version != 0).then_some(fields.version);
    raw.details.thread_id = has(ESR_HAS_THREAD_ID).then_some(fields.thread_id);
    if !no_paths {
        // Safety: readable for their lengths, by the contract.
        if let Some(path) = unsafe { bytes(fields.process_path, fields.process_path_len) } {
            raw.process_path.set(path);
        }
        // Safety: as above.
        if let Some(path) = unsafe { bytes(fields.target_path, fields.target_path_len) } {
            raw.target_path.set(path);
        }
    }
    true
}
