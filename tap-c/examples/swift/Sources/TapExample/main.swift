// An Endpoint Security client that allows every AUTH_OPEN and AUTH_EXEC,
// with the esreplay tap recording when each message reached the handler,
// when it was answered and when the work was done. The ES handler block
// runs on the client's serial queue: one esr_queue handle for it.
import CEsreplayTap
import EndpointSecurity
import Foundation

func check(_ status: Int32, _ what: String) {
    if status != ESR_OK {
        let detail = esr_last_error().map { String(cString: $0) } ?? String(cString: esr_status_message(status))
        FileHandle.standardError.write("\(what): \(detail)\n".data(using: .utf8)!)
        exit(1)
    }
}

let output = CommandLine.arguments.dropFirst().first ?? "swift.esr"
var tap: OpaquePointer?
check(esr_tap_open(output, nil, &tap), "esr_tap_open")
var handlerQueue: OpaquePointer?
check(esr_queue_new(tap, &handlerQueue), "esr_queue_new")

var client: OpaquePointer?
let created = es_new_client(&client) { client, message in
    var token = esr_token()
    _ = esr_message_received_es(handlerQueue, message, &token)
    // ... the client's own decision goes here ...
    if message.pointee.action_type == ES_ACTION_TYPE_AUTH {
        if message.pointee.event_type == ES_EVENT_TYPE_AUTH_OPEN {
            es_respond_flags_result(client, message, UInt32.max, false)
            _ = esr_answered(&token, UInt32.max)
        } else {
            es_respond_auth_result(client, message, ES_AUTH_RESULT_ALLOW, false)
            _ = esr_answered(&token, ES_AUTH_RESULT_ALLOW.rawValue)
        }
    }
    _ = esr_work_done(handlerQueue, &token)
}
guard created == ES_NEW_CLIENT_RESULT_SUCCESS, let client else {
    FileHandle.standardError.write("es_new_client failed: \(created.rawValue)\n".data(using: .utf8)!)
    exit(1)
}
let events = [ES_EVENT_TYPE_AUTH_OPEN, ES_EVENT_TYPE_AUTH_EXEC]
guard es_subscribe(client, events, UInt32(events.count)) == ES_RETURN_SUCCESS else {
    FileHandle.standardError.write("es_subscribe failed\n".data(using: .utf8)!)
    exit(1)
}

// Stop on Ctrl-C: unsubscribe first (no handler runs after es_delete_client
// returns), then close the tap, which writes the footer.
signal(SIGINT, SIG_IGN)
let stop = DispatchSource.makeSignalSource(signal: SIGINT, queue: .main)
stop.setEventHandler {
    es_unsubscribe_all(client)
    es_delete_client(client)
    esr_queue_free(handlerQueue)
    var stats = esr_tap_stats()
    check(esr_tap_close(tap, &stats), "esr_tap_close")
    print("\(output): \(stats.messages) messages, \(stats.dropped) dropped")
    exit(0)
}
stop.resume()
print("recording into \(output) (Ctrl-C stops)")
dispatchMain()
