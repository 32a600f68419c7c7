/* A plugin built for a future major ABI: must be refused naming both versions. */
#include <hostd/plugin.h>

static int on_request(void *s, hostd_request *q, hostd_response *r, char *e, size_t n) {
  (void)s; (void)q; (void)r; (void)e; (void)n;
  return HOSTD_OK;
}
static const hostd_plugin desc = {HOSTD_PLUGIN_MAGIC, sizeof(hostd_plugin), 99, 0, "bad_abi", "1", NULL,
                                  on_request, NULL, NULL};
HOSTD_DECLARE_ENTRY(desc)
