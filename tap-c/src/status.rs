//! Status codes, their fixed messages, and the thread's last error message.
//!
//! Every function returns an `int32_t` status: `ESR_OK` (0), `ESR_DROPPED`
//! (1, not an error: the record was counted as dropped), or a negative
//! error. [`esr_status_message`] gives a static text per code; the setup
//! and teardown calls (`esr_tap_open`, `esr_queue_new`, `esr_tap_close`)
//! also leave a detailed message for [`esr_last_error`]. The per-message
//! calls never touch the last error (that would need thread-local storage
//! and, for a detailed text, an allocation).

use std::cell::RefCell;
use std::ffi::{CString, c_char};

/// Success.
pub const ESR_OK: i32 = 0;
/// The handle's ring was full: the record was dropped and counted in the
/// trace (the message itself is unaffected).
pub const ESR_DROPPED: i32 = 1;
/// A required pointer was NULL.
pub const ESR_ERR_NULL: i32 = -1;
/// An argument is invalid (a path that is not UTF-8, a token not filled by
/// `esr_message_received*` or already finished, an option out of range).
pub const ESR_ERR_INVALID: i32 = -2;
/// Creating, writing, syncing or closing the trace file failed.
pub const ESR_ERR_IO: i32 = -3;
/// The trace encoder failed.
pub const ESR_ERR_TRACE: i32 = -4;
/// A bug inside the library (a caught panic); the tap is unusable.
pub const ESR_ERR_INTERNAL: i32 = -5;

/// The fixed message of a status code (never NULL, static storage).
#[unsafe(no_mangle)]
pub extern "C" fn esr_status_message(status: i32) -> *const c_char {
    let text: &'static [u8] = match status {
        ESR_OK => b"ok\0",
        ESR_DROPPED => b"record dropped: the handle's ring was full (counted in the trace)\0",
        ESR_ERR_NULL => b"a required pointer was NULL\0",
        ESR_ERR_INVALID => b"invalid argument\0",
        ESR_ERR_IO => b"I/O error on the trace file\0",
        ESR_ERR_TRACE => b"the trace encoder failed\0",
        ESR_ERR_INTERNAL => b"internal error in the tap library\0",
        _ => b"unknown status code\0",
    };
    text.as_ptr().cast()
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// The detailed message of this thread's last failed setup or teardown
/// call (`esr_tap_open`, `esr_queue_new`, `esr_tap_close`), or NULL.
/// Valid until the next such call fails on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn esr_last_error() -> *const c_char {
    LAST_ERROR.with(|last| {
        last.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |text| text.as_ptr())
    })
}

/// Records `message` as this thread's last error and returns `status`.
pub(crate) fn fail(status: i32, message: impl Into<String>) -> i32 {
    let mut text = message.into().into_bytes();
    text.retain(|&b| b != 0);
    let text = CString::new(text).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = Some(text));
    status
}

/// The status of a recorder error, with its text left as the last error.
pub(crate) fn fail_record(error: &esreplay_recorder::RecordError) -> i32 {
    use esreplay_recorder::RecordError;
    let status = match error {
        RecordError::Io(_) => ESR_ERR_IO,
        RecordError::Trace(_) => ESR_ERR_TRACE,
        RecordError::Panicked | RecordError::Source(_) => ESR_ERR_INTERNAL,
    };
    fail(status, error.to_string())
}

/// Runs a setup or teardown body, turning a panic into `ESR_ERR_INTERNAL`.
pub(crate) fn guarded(body: impl FnOnce() -> i32) -> i32 {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or_else(|_| fail(ESR_ERR_INTERNAL, "panic inside the tap library"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_code_has_a_message_and_failures_set_the_last_error() {
        for code in [
            ESR_OK,
            ESR_DROPPED,
            ESR_ERR_NULL,
            ESR_ERR_INVALID,
            ESR_ERR_IO,
        ] {
            // Safety: esr_status_message returns a static NUL-terminated text.
            let text = unsafe { CStr::from_ptr(esr_status_message(code)) };
            assert!(!text.to_bytes().is_empty());
        }
        // Safety: as above.
        let unknown = unsafe { CStr::from_ptr(esr_status_message(42)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status code");
        assert_eq!(fail(ESR_ERR_IO, "disk\0full"), ESR_ERR_IO);
        // Safety: the last error was just set on this thread.
        let last = unsafe { CStr::from_ptr(esr_last_error()) };
        assert_eq!(last.to_str().unwrap(), "diskfull");
        assert_eq!(guarded(|| panic!("boom")), ESR_ERR_INTERNAL);
    }
}
