/* Links (undefined symbols are allowed in a .so) but cannot be loaded with RTLD_NOW. */
#include <hostd/plugin.h>

extern void hostd_test_no_such_function(void);

static int on_request(void *s, hostd_request *q, hostd_response *r, char *e, size_t n) {
  (void)s; (void)q; (void)r; (void)e; (void)n;
  hostd_test_no_such_function();
  return HOSTD_OK;
}
static const hostd_plugin desc = {HOSTD_PLUGIN_MAGIC, sizeof(hostd_plugin), HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR,
                                  "missing_symbol", "1", NULL, on_request, NULL, NULL};
HOSTD_DECLARE_ENTRY(desc)
