//! What to do when Endpoint Security refuses: each `es_new_client` result
//! mapped to guidance a person can act on, and a rejected subscription
//! named. Portable (numbers, not the macOS types), so it is tested on Linux.

use crate::writer::RecordError;
use esreplay_traces::EventType;

/// System Settings → Privacy & Security → Full Disk Access.
pub const FULL_DISK_ACCESS_URL: &str =
    "x-apple.systempreferences:com.apple.preference.security?Privacy_AllFiles";

/// The error for an `es_new_client_result_t` value (`u32::MAX`: the API
/// is not available on this macOS).
pub fn new_client_error(code: u32) -> RecordError {
    let guidance = match code {
        1 => "ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT: a bug in esrecord; please report it"
            .to_owned(),
        2 => "ES_NEW_CLIENT_RESULT_ERR_INTERNAL: Endpoint Security failed internally; retry, \
              and see `log show --last 5m --predicate 'subsystem == \"com.apple.endpointsecurity\"'`"
            .to_owned(),
        3 => "ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED: this binary is not signed with the \
              com.apple.developer.endpoint-security.client entitlement allowed by a provisioning \
              profile (or, for development, with SIP off and ad-hoc signing): see \
              docs/recording.md, \"Signing\""
            .to_owned(),
        4 => format!(
            "ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED: the responsible process (the terminal or \
             app that started esrecord, or esrecord's app bundle when launched by launchd) lacks \
             Full Disk Access: grant it in System Settings → Privacy & Security → Full Disk \
             Access ({FULL_DISK_ACCESS_URL}), then restart that terminal"
        ),
        5 => "ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED: Endpoint Security clients must run as \
              root: sudo esrecord ..."
            .to_owned(),
        6 => "ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS: the system's limit of ES clients is \
              reached: stop another Endpoint Security client (systemextensionsctl list, \
              launchctl list) and retry"
            .to_owned(),
        u32::MAX => "es_new_client is not available on this version of macOS (10.15 or later \
                     is needed)"
            .to_owned(),
        other => format!("es_new_client failed with unknown result {other}"),
    };
    RecordError::Source(guidance)
}

/// The error for a subscription ES refused.
pub fn subscribe_error(event: EventType) -> RecordError {
    RecordError::Source(format!(
        "es_subscribe refused {event} ({}): this macOS may not have that event type, \
         or it is not an event a client can subscribe to",
        event.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_new_client_result_has_actionable_guidance() {
        let text = |code| new_client_error(code).to_string();
        assert!(text(3).contains("entitlement") && text(3).contains("profile"));
        assert!(text(4).contains("Full Disk Access") && text(4).contains(FULL_DISK_ACCESS_URL));
        assert!(text(5).contains("sudo"));
        assert!(text(6).contains("stop another"));
        assert!(text(2).contains("INTERNAL"));
        assert!(text(99).contains("99"));
        let refused = subscribe_error(EventType::AUTH_OPEN).to_string();
        assert!(
            refused.contains("AUTH_OPEN") && refused.contains("(1)"),
            "{refused}"
        );
    }
}
