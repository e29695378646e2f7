/* An example store plugin: a shared object exporting FL_STORE_PLUGIN_SYMBOL
 * that offers the built-in memory stores under the name "memplugin". It is
 * what test_store_mem loads to check fl_store_plugin_load end to end and to
 * run the store contract through a dlopen'ed vtable; it is also the smallest
 * template for users writing their own store.
 *
 * Build (position-independent, the client sources it needs compiled in;
 * store.c's registry references the file stores, hence their sources):
 *   cc -std=c11 -fPIC -shared -fvisibility=hidden -Iclient/include -Iclient \
 *      -D_GNU_SOURCE -o memplugin.so tests/plugins/memplugin.c \
 *      client/pubstore_mem.c client/bmstore_mem.c client/store.c \
 *      client/pubstore_file.c client/bmstore_file.c client/seglog.c \
 *      client/record.c client/crc32c.c client/buf.c client/bookmark.c \
 *      client/error.c -ldl
 * test_store_mem looks for it at <its own dir>/../plugins/memplugin.so or
 * $FL_TEST_MEMPLUGIN.
 */
#include "faultline/store.h"

/* The entry point, looked up by name with dlsym. */
const fl_store_plugin *fl_store_plugin_v1(void);

static const fl_store_plugin plugin = {
    .version = FL_STORE_ABI_VERSION,
    .name = "memplugin",
    .pubstore = &fl_pubstore_memory,
    .bmstore = &fl_bmstore_memory,
};

__attribute__((visibility("default"))) const fl_store_plugin *fl_store_plugin_v1(void)
{
    return &plugin;
}
