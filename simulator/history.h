/* The run history recorder.
 *
 * Every event of a simulated run is one canonical JSON line:
 *
 *     {"t":<virtual us>,"node":"<node>","src":"<source>","ev":"<event>"[,<fields>]}
 *
 * `t` is virtual time in microseconds since virtual zero (not UTC); node,
 * source and event are JSON-escaped strings; `fields` is the caller's
 * fields_json copied verbatim (the inside of an object, no braces; NULL or ""
 * for none). There is no whitespace, so the same events always give the same
 * bytes.
 *
 * The recorder never holds the whole history. It keeps:
 *   - a running hash: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 *     0x100000001b3) over the bytes of every line followed by '\n', i.e. the
 *     FNV-1a 64 of the history.jsonl file. Same scenario + seed => same hash;
 *   - an event count;
 *   - an optional streaming sink (a FILE*, typically history.jsonl), one line
 *     per event followed by '\n';
 *   - a bounded tail: the last N lines (a ring buffer), for reports;
 *   - observers, called synchronously with every event (checkers, fault
 *     triggers). An observer may itself call sim_history_add: the nested
 *     event is recorded and observed at once (before the outer event reaches
 *     the remaining observers). Fault triggers should rather sim_schedule()
 *     the fault with delay 0 to keep causality obvious.
 *
 * What the simulator records (node = the node concerned):
 *   src "sim":   node_create, crash, power_loss, restart {"incarnation"}
 *   src "net":   connect {"conn","to"[,"blackholed":true]}, accept {"conn",
 *                "peer_conn","from"}, opened {"conn"}, close {"conn"} (a local
 *                close() call), closed {"conn","reason":"OK"|"REFUSED"|...}
 *                (the closed callback), tx {"conn","len"} (every send unit),
 *                filter_drop / filter_dup {"conn","len"}
 *   src "fault": stall, stall_heal, cut, partition, partition_heal, latency,
 *                latency_heal, filter, reorder, clock_jump
 *   and everything the client and broker trace through the runtime seam
 *   (src and ev as given). Timer starts and fires, and data deliveries, are
 *   not recorded (too noisy; the receivers trace what they make of them).
 */
#ifndef SIM_HISTORY_H
#define SIM_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sim_history sim_history;

/* One recorded event as observers see it. All pointers are borrowed for the
 * duration of the observer call. `line` is the canonical line without '\n'. */
typedef struct sim_history_event {
    uint64_t seq; /* 0-based event number */
    uint64_t t_us;
    const char *node;
    const char *source;
    const char *event;
    const char *fields_json; /* never NULL ("" for none) */
    const char *line;
    size_t line_len;
} sim_history_event;

typedef void (*sim_history_observer_fn)(void *arg, const sim_history_event *ev);

#define SIM_HISTORY_FNV_OFFSET 0xcbf29ce484222325ULL
#define SIM_HISTORY_FNV_PRIME  0x100000001b3ULL

/* New recorder keeping the last `tail_lines` lines in memory (0: none).
 * NULL on out of memory. */
sim_history *sim_history_new(size_t tail_lines);

/* Free the recorder (does not close the sink). NULL is a no-op. */
void sim_history_free(sim_history *h);

/* Stream every following line to `f` (NULL stops streaming). The recorder
 * does not own f. Write errors are remembered (sim_history_sink_error). */
void sim_history_set_sink(sim_history *h, FILE *f);

/* 0, or FL_E_IO if a write to the sink failed since it was set. */
int sim_history_sink_error(const sim_history *h);

/* Register an observer, called with every later event in registration
 * order. FL_E_NOMEM. */
int sim_history_observe(sim_history *h, sim_history_observer_fn fn, void *arg);

/* Remove the first observer registered with exactly (fn, arg). Safe to call
 * from inside an observer. FL_E_NOT_FOUND if there is none. */
int sim_history_unobserve(sim_history *h, sim_history_observer_fn fn, void *arg);

/* Record one event (see the line format above). NULL node/source/event are
 * recorded as "". Never fails: on out of memory the line still goes to the
 * hash and the count, and sim_history_dropped() counts what the tail or the
 * sink missed. */
void sim_history_add(sim_history *h, uint64_t t_us, const char *node, const char *source,
                     const char *event, const char *fields_json);

/* The running FNV-1a 64 hash of all lines so far (SIM_HISTORY_FNV_OFFSET
 * when empty). */
uint64_t sim_history_hash(const sim_history *h);

/* Number of events recorded. */
uint64_t sim_history_count(const sim_history *h);

/* Lines the tail or sink could not take for lack of memory (normally 0). */
uint64_t sim_history_dropped(const sim_history *h);

/* Number of lines currently in the tail (<= tail_lines). */
size_t sim_history_tail_count(const sim_history *h);

/* The i-th line of the tail, 0 the oldest kept, without '\n'. Borrowed until
 * the next sim_history_add. NULL if i is out of range. */
const char *sim_history_tail_line(const sim_history *h, size_t i);

/* Write `s` into `out` (capacity `cap`, NUL-terminated) as a JSON string
 * with quotes, escaping as the recorder does. Returns the length the full
 * escaped string needs (like snprintf); out may be NULL when cap is 0. */
size_t sim_json_escape(char *out, size_t cap, const char *s);

#endif
