/* The store contract table: implementation-agnostic cases that every publish
 * store and bookmark store must pass, run through the store ABI only
 * (faultline/store.h). The built-in stores (none, memory, file, sqlite) and
 * users' plugins all run the same table.
 *
 * How to use it from a cmocka test binary:
 *
 *     static const fl_runtime *my_setup(void *ctx) { ...fresh world...; return rt; }
 *     static const fl_store_under_test sut = {
 *         .name = "file_always",            // cmocka group name: [A-Za-z0-9_-]
 *         .pub = &fl_pubstore_file,         // or NULL
 *         .bm = &fl_bmstore_file,           // or NULL
 *         .options = "sync=always",
 *         .capacity_options = "sync=always;capacity=4096",   // or NULL
 *         .flags = FL_SUT_RETAINS | FL_SUT_DURABLE,
 *         .ctx = &my_fixture, .setup = my_setup, .teardown = my_teardown,
 *         .crash = my_power_loss, .restart = my_restart,      // or NULL
 *     };
 *     int main(void) { return fl__run_store_contract(&sut) + ...; }
 *
 * fl__run_store_contract runs every applicable case as its own cmocka test
 * (group "store_contract_<name>", tests named after the cases), so reports
 * show each case. With a simulator node as the runtime, see
 * store_contract_sim.h for ready-made setup/teardown/crash/restart hooks.
 *
 * Per case the runner calls setup (a fresh, empty world: the store's
 * directory must not hold anything from an earlier case), creates the store
 * directory through the runtime ("contract/pub" or "contract/bm") when the
 * runtime has dir_create, runs the case (which opens, closes and reopens
 * the store as it needs), closes whatever is still open, then teardown.
 *
 * Which cases apply (fl__store_contract_applies):
 *   - publish cases need .pub, bookmark cases .bm;
 *   - FL_SC_RETAIN cases need FL_SUT_RETAINS (a store that keeps messages);
 *     FL_SC_NONRETAIN cases need a store without it (like "none");
 *   - FL_SC_DURABLE cases close and reopen and need FL_SUT_DURABLE;
 *   - FL_SC_CRASH cases need .crash: the hook kills the process under the
 *     open store (simulation: power loss), the case then calls close() --
 *     whose I/O must go nowhere -- and .restart gives the runtime to reopen
 *     with. Give .crash only for options under which every successful call is
 *     durable when it returns (sync=always);
 *   - FL_SC_CAPACITY cases need .capacity_options: options giving a capacity
 *     that a few hundred 100-byte messages fill (at most ~1 MiB);
 *   - FL_SC_POWER_LOSS cases need .power_loss (and .restart when the runtime
 *     changes): unlike .crash it may be given under any sync policy; the
 *     cases then expect only what store.h promises whatever the policy
 *     (sequences are never reused after a power loss, nothing damaged comes
 *     back);
 *   - FL_SC_SYNC_FAIL cases need .fail_next_sync and FL_SUT_DURABLE: the
 *     store's outcome-unknown contract after a failed sync (store.h).
 *
 * Rules the table checks beyond the literal text of store.h (the project's
 * reading of anchors.md):
 *   - bookmark log: above the publisher's highest logged sequence is new; at
 *     or below it a logged-but-undiscarded entry is new again (a redelivery
 *     of something unprocessed, returns 0), a discarded or unknown one is a
 *     duplicate (1); is_discarded answers the same lookup without logging;
 *   - most_recent: when some publisher's first logged message on the sub is
 *     not yet discarded, no exact bookmark of that publisher precedes it, so
 *     the resume point is "0" (EPOCH) -- never a list that leaves it out;
 *   - timestamps in resume points use the canonical bookmark format
 *     (faultline/bookmark.h): YYYYMMDDTHHMMSS[.ffffff]Z, the fraction only
 *     when non-zero; nothing after the last '|' when ts_us < 0;
 *   - publish reopen: discard_up_to need not be durable, so after a reopen
 *     messages at or below the last discard may come back (unchanged, in
 *     order); every message above it must;
 *   - capacity: FL_E_FULL stores nothing, and discarding frees the room;
 *   - last_sequence after a reopen may exceed the highest message stored (a
 *     store may reserve sequences in blocks, store.h): reopen cases check
 *     "at least", and continue from whatever it says;
 *   - after a failed sync (FL_E_SYNC_FAILED from store() or flush()) and a
 *     reopen (clean or after a power loss) the message of that store() is
 *     either back intact under its sequence or absent; everything flushed
 *     before is back; the store works again.
 *
 * This file links into every test binary (tests/lib/), so it depends only on
 * cmocka, libc and client/error.c.
 */
#ifndef FAULTLINE_TESTS_STORE_CONTRACT_H
#define FAULTLINE_TESTS_STORE_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "faultline/runtime.h"
#include "faultline/store.h"

/* fl_store_under_test.flags */
enum {
    FL_SUT_RETAINS = 1u << 0, /* the publish store keeps messages (not "none") */
    FL_SUT_DURABLE = 1u << 1, /* contents survive close + reopen */
};

typedef struct fl_store_under_test {
    const char *name;             /* group name suffix; [A-Za-z0-9_-] */
    const fl_pubstore_ops *pub;   /* publish store under test, or NULL */
    const fl_bmstore_ops *bm;     /* bookmark store under test, or NULL */
    const char *options;          /* env.options for every open (may be NULL) */
    const char *capacity_options; /* options with a small capacity, or NULL */
    unsigned flags;               /* FL_SUT_* */
    void *ctx;                    /* handed to the hooks */
    /* Required. A fresh, empty world; returns the runtime to open with. */
    const fl_runtime *(*setup)(void *ctx);
    /* Optional. Free what setup made. Runs after every case, pass or fail. */
    void (*teardown)(void *ctx);
    /* Optional (enables FL_SC_CRASH cases). Kill the process under the open
     * store; close() is called afterwards and must not reach the disk. */
    void (*crash)(void *ctx);
    /* Optional. After crash or power_loss: bring the process back; returns
     * the runtime to reopen with (NULL hook: keep the old runtime). */
    const fl_runtime *(*restart)(void *ctx);
    /* Optional (enables FL_SC_POWER_LOSS cases). Cut the power under the
     * open store, whatever its sync policy: what was not synced may be
     * lost, the last write may tear; close() is called afterwards and must
     * not reach the disk. */
    void (*power_loss)(void *ctx);
    /* Optional (enables FL_SC_SYNC_FAIL cases). Make the next file sync
     * (fsync, not a directory sync) fail once with an I/O error. */
    void (*fail_next_sync)(void *ctx);
} fl_store_under_test;

/* What a case needs (fl_store_contract_case.needs). */
enum {
    FL_SC_PUB = 1u << 0,        /* a publish-store case */
    FL_SC_BM = 1u << 1,         /* a bookmark-store case */
    FL_SC_RETAIN = 1u << 2,     /* needs FL_SUT_RETAINS */
    FL_SC_NONRETAIN = 1u << 3,  /* needs a store without FL_SUT_RETAINS */
    FL_SC_DURABLE = 1u << 4,    /* needs FL_SUT_DURABLE */
    FL_SC_CRASH = 1u << 5,      /* needs .crash */
    FL_SC_CAPACITY = 1u << 6,   /* needs .capacity_options */
    FL_SC_POWER_LOSS = 1u << 7, /* needs .power_loss */
    FL_SC_SYNC_FAIL = 1u << 8,  /* needs .fail_next_sync */
};

/* One running case: the store under test, the current runtime and the open
 * handles (closed by the runner if a case fails midway). Opaque. */
typedef struct fl_sc fl_sc;

typedef struct fl_store_contract_case {
    const char *name;
    unsigned needs; /* FL_SC_* */
    void (*run)(fl_sc *t);
} fl_store_contract_case;

/* The whole table, in a fixed order; *count receives its length. */
const fl_store_contract_case *fl__store_contract_cases(size_t *count);

/* Does case c apply to sut? */
bool fl__store_contract_applies(const fl_store_under_test *sut, const fl_store_contract_case *c);

/* Run every applicable case as a cmocka test in one group named
 * "store_contract_<sut->name>". Returns the number of failed cases (so
 * several suts can be summed into main's exit status); -1 if sut is unusable
 * (no setup hook or no store). */
int fl__run_store_contract(const fl_store_under_test *sut);

/* Run only the named case (for debugging one failure); the number of failed
 * cases, or -1 if no applicable case has that name. */
int fl__run_store_contract_case(const fl_store_under_test *sut, const char *case_name);

#endif
