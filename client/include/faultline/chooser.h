/* Server choosers: which broker URI the HA client connects to next, with
 * which credentials.
 *
 * A chooser is a vtable plus an instance (fl_chooser), like fl_runtime. The
 * HA client calls it on every attempt of its reconnect loop:
 *
 *   current_uri()       the URI to try; NULL or "" means "no server": the
 *                       client gives up with get_error() in the error text;
 *   current_password()  the password to send at logon for that URI (NULL:
 *                       none);
 *   report_success()    the attempt connected and logged on;
 *   report_failure()    the attempt at `uri` failed before or during logon
 *                       (refused, timed out, logon refused, auth failure,
 *                       connection lost before the logon ack): `err` says
 *                       which (FL_E_REFUSED, FL_E_TIMEOUT, FL_E_AUTH, ...).
 *
 * A plain disconnect of a logged-on session is NOT reported as a failure,
 * so the default chooser tries the same server again first; it advances to
 * the next server only on a reported failure. A chooser never calls the
 * client.
 */
#ifndef FAULTLINE_CHOOSER_H
#define FAULTLINE_CHOOSER_H

#ifdef __cplusplus
extern "C" {
#endif

#define FL_CHOOSER_OPS_VERSION 1

typedef struct fl_chooser_ops {
    int version; /* FL_CHOOSER_OPS_VERSION */
    const char *name;
    /* Returned strings are owned by the chooser and valid until its next
     * call. */
    const char *(*current_uri)(void *self);
    const char *(*current_password)(void *self);
    void (*report_success)(void *self);
    void (*report_failure)(void *self, const char *uri, int err);
    /* Why there is no server to try ("" if there is one). Never NULL. */
    const char *(*get_error)(void *self);
    /* One line describing the chooser's servers and state, included in the
     * client's give-up error. Never NULL. */
    const char *(*describe)(void *self);
    void (*free)(void *self);
} fl_chooser_ops;

/* A chooser: the vtable and its instance. Plain value; the instance is owned
 * by whoever holds it (see fl_client_set_chooser). */
typedef struct fl_chooser {
    const fl_chooser_ops *ops;
    void *self;
} fl_chooser;

/* Create the default round-robin chooser, initially empty. 0, FL_E_INVAL
 * (out NULL), FL_E_NOMEM. */
int fl_chooser_default_new(fl_chooser *out);

/* Append a server to a default chooser, with its password (NULL: none; both
 * strings are copied). The same URI may be added twice (it is then visited
 * twice per round). 0, FL_E_INVAL (not a default chooser, empty uri),
 * FL_E_NOMEM. */
int fl_chooser_default_add(fl_chooser *ch, const char *uri, const char *password);

/* Call-through helpers (NULL-safe where it makes sense). fl_chooser_free
 * frees the instance and clears *ch. */
const char *fl_chooser_current_uri(const fl_chooser *ch);
const char *fl_chooser_current_password(const fl_chooser *ch);
void fl_chooser_report_success(const fl_chooser *ch);
void fl_chooser_report_failure(const fl_chooser *ch, const char *uri, int err);
const char *fl_chooser_get_error(const fl_chooser *ch);
const char *fl_chooser_describe(const fl_chooser *ch);
void fl_chooser_free(fl_chooser *ch);

#ifdef __cplusplus
}
#endif
#endif
