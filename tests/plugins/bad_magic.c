/* A descriptor that is not a hostd descriptor. */
#include <hostd/plugin.h>

static int on_request(void *s, hostd_request *q, hostd_response *r, char *e, size_t n) {
  (void)s; (void)q; (void)r; (void)e; (void)n;
  return HOSTD_OK;
}
static const hostd_plugin desc = {0, sizeof(hostd_plugin), HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR, "bad_magic", "1",
                                  NULL, on_request, NULL, NULL};
HOSTD_DECLARE_ENTRY(desc)
