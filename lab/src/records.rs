//! `esreplay lab --records FILE`: every open's record as one JSON line,
//! for a closer look at where the time went (delivery, queueing, work,
//! the answer's way back).

use crate::{Answerer, Record};
use esreplay_traces::Message;

/// Writes one JSON line per open (`--records`), in schedule order.
pub fn write_records(
    out: &mut dyn std::io::Write,
    label: &str,
    records: &[Record],
    schedule: &[Message],
) -> std::io::Result<()> {
    for r in records {
        let s = r.served;
        let line = serde_json::json!({
            "strategy": label,
            "index": r.index,
            "due_ns": r.due_ns,
            "global_seq": schedule[r.index].global_seq,
            "thread_id": schedule[r.index].thread_id,
            "call_ns": r.call_ns,
            "return_ns": r.return_ns,
            "deadline_ns": r.deadline_ns,
            "read_ns": s.map(|s| s.read_ns),
            "idle_read": s.map(|s| s.idle_read),
            "taken_ns": s.map(|s| s.taken_ns),
            "start_ns": s.and_then(|s| s.start_ns),
            "finish_ns": s.and_then(|s| s.finish_ns),
            "answer_ns": s.map(|s| s.answer_ns),
            "answered_by": s.map(|s| answerer(s.answered_by)),
            "ran_on": s.and_then(|s| s.ran_on).map(answerer),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn answerer(by: Answerer) -> String {
    match by {
        Answerer::Handler => "handler".into(),
        Answerer::Worker(k) => format!("worker:{k}"),
        Answerer::Guard => "guard".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{Action, EventType};

    #[test]
    fn one_line_per_open_with_its_message_and_who_answered() {
        let record = |index, served| Record {
            index,
            due_ns: 5,
            call_ns: 10,
            return_ns: 90,
            deadline_ns: None,
            served,
        };
        let served = crate::Served {
            read_ns: 20,
            idle_read: true,
            taken_ns: 21,
            start_ns: None,
            finish_ns: None,
            answer_ns: 80,
            answered_by: Answerer::Guard,
            ran_on: None,
        };
        let schedule = [
            Message::new(7, EventType::AUTH_OPEN, Action::Auth, 0),
            Message::new(8, EventType::AUTH_OPEN, Action::Auth, 0),
        ];
        let mut out = Vec::new();
        write_records(
            &mut out,
            "guard:1ms:inline",
            &[record(0, Some(served)), record(1, None)],
            &schedule,
        )
        .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["global_seq"], 7);
        assert_eq!(lines[0]["answered_by"], "guard");
        assert_eq!(lines[0]["ran_on"], serde_json::Value::Null);
        assert_eq!(lines[1]["read_ns"], serde_json::Value::Null);
        assert_eq!(lines[1]["strategy"], "guard:1ms:inline");
    }
}
