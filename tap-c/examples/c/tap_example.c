/* The esreplay tap from C, around a fake ES client: a handler queue answers
 * most messages itself and hands every fourth to a worker thread, which
 * finishes it on its own queue handle. Runs anywhere (plain fields; a real
 * macOS client calls esr_message_received_es with its es_message_t).
 *
 *   cc -I tap-c/include tap-c/examples/c/tap_example.c \
 *      target/debug/libesreplay_tap.a -lpthread -ldl -lm -o tap_example
 *   ./tap_example /tmp/c.esr 2000
 *   esreplay sim /tmp/c.esr --strategy inline --cost trace
 */
#define _POSIX_C_SOURCE 200809L
#include "esreplay_tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUTH_OPEN 1      /* ES_EVENT_TYPE_AUTH_OPEN */
#define HANDOFF_SLOTS 64

/* Busy work standing in for a real decision. */
static void work(uint64_t micros) {
    uint64_t until = esr_now() + esr_ns_to_ticks(micros * 1000);
    while (esr_now() < until) {
    }
}

/* Tokens handed from the handler to the worker (a bounded queue). */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    esr_token slots[HANDOFF_SLOTS];
    unsigned head, tail;
    int closed;
} handoff = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{{0}}}, 0, 0, 0};

static esr_tap *tap;

static void *worker(void *unused) {
    (void)unused;
    esr_queue *queue;
    if (esr_queue_new(tap, &queue) != ESR_OK) {
        fprintf(stderr, "esr_queue_new: %s\n", esr_last_error());
        exit(1);
    }
    for (;;) {
        esr_token token;
        pthread_mutex_lock(&handoff.lock);
        while (handoff.head == handoff.tail && !handoff.closed)
            pthread_cond_wait(&handoff.changed, &handoff.lock);
        if (handoff.head == handoff.tail) {
            pthread_mutex_unlock(&handoff.lock);
            break;
        }
        token = handoff.slots[handoff.head++ % HANDOFF_SLOTS];
        pthread_cond_broadcast(&handoff.changed);
        pthread_mutex_unlock(&handoff.lock);
        work(200); /* the slow path: hashing a file, asking a daemon... */
        esr_answered(&token, 0 /* ES_AUTH_RESULT_ALLOW */);
        esr_work_done(queue, &token);
    }
    esr_queue_free(queue);
    return NULL;
}

static void hand_off(const esr_token *token) {
    pthread_mutex_lock(&handoff.lock);
    while (handoff.tail - handoff.head == HANDOFF_SLOTS)
        pthread_cond_wait(&handoff.changed, &handoff.lock);
    handoff.slots[handoff.tail++ % HANDOFF_SLOTS] = *token;
    pthread_cond_broadcast(&handoff.changed);
    pthread_mutex_unlock(&handoff.lock);
}

/* What a handler would read from an es_message_t. */
static esr_message_fields fake_message(uint64_t i, char *path, size_t path_size) {
    esr_message_fields fields;
    memset(&fields, 0, sizeof fields);
    uint64_t now = esr_now();
    int len = snprintf(path, path_size, "/tmp/file%llu", (unsigned long long)(i % 13));
    fields.present = ESR_HAS_DEADLINE | ESR_HAS_SEQ_NUM | ESR_HAS_GLOBAL_SEQ_NUM | ESR_HAS_PID;
    fields.version = 8;
    fields.event_type = AUTH_OPEN;
    fields.auth = true;
    fields.mach_time = now;
    fields.deadline = now + esr_ns_to_ticks(15000000000ull); /* 15 s budget */
    fields.seq_num = i;
    fields.global_seq_num = i;
    fields.pid = 1000 + (int32_t)(i % 7);
    fields.target_path = path;
    fields.target_path_len = (size_t)len;
    return fields;
}

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "tap-c.esr";
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
    if (esr_tap_open(out, NULL, &tap) != ESR_OK) {
        fprintf(stderr, "esr_tap_open: %s\n", esr_last_error());
        return 1;
    }
    esr_queue *handler;
    if (esr_queue_new(tap, &handler) != ESR_OK) {
        fprintf(stderr, "esr_queue_new: %s\n", esr_last_error());
        return 1;
    }
    pthread_t worker_thread;
    pthread_create(&worker_thread, NULL, worker, NULL);
    for (uint64_t i = 0; i < count; i++) {
        char path[64];
        esr_message_fields fields = fake_message(i, path, sizeof path);
        esr_token token;
        int status = esr_message_received(handler, &fields, &token);
        if (status != ESR_OK) {
            fprintf(stderr, "esr_message_received: %s\n", esr_status_message(status));
            return 1;
        }
        if (i % 4 == 0) {
            hand_off(&token);
        } else {
            work(20);
            esr_answered(&token, 0 /* ES_AUTH_RESULT_ALLOW */);
            esr_work_done(handler, &token);
        }
        struct timespec pause = {0, 100000};
        nanosleep(&pause, NULL);
    }
    pthread_mutex_lock(&handoff.lock);
    handoff.closed = 1;
    pthread_cond_broadcast(&handoff.changed);
    pthread_mutex_unlock(&handoff.lock);
    pthread_join(worker_thread, NULL);
    esr_queue_free(handler);
    esr_tap_stats stats;
    if (esr_tap_close(tap, &stats) != ESR_OK) {
        fprintf(stderr, "esr_tap_close: %s\n", esr_last_error());
        return 1;
    }
    printf("%s: %llu messages, %llu dropped\n", out, (unsigned long long)stats.messages,
           (unsigned long long)stats.dropped);
    return 0;
}
