/* A plugin as built against ABI 1.0: its descriptor ends before on_message, it knows
 * nothing of 1.1+ and calls only 1.0 host functions. A newer host must load and serve it,
 * and a stale handle must fail (with a code 1.0 did not know) instead of touching
 * another request. */
#include <hostd/plugin.h>

#include <stdio.h>
#include <string.h>

static const hostd_host_api *host;
static hostd_response *kept; /* a response handle kept past its request (/keep) */

static int init(const hostd_host_api *h, void **state, char *err, size_t n) {
  (void)state; (void)err; (void)n;
  host = h;
  return HOSTD_OK;
}

static int on_request(void *s, hostd_request *q, hostd_response *r, char *e, size_t n) {
  (void)s; (void)e; (void)n;
  hostd_str path = host->req_path(q);
  char body[64];
  if (path.len == 5 && memcmp(path.data, "/keep", 5) == 0) {
    kept = r;
    return host->res_end(r, "kept", 4);
  }
  if (path.len == 6 && memcmp(path.data, "/stale", 6) == 0) {
    int rc = host->res_write(kept, "LEAK", 4);
    int len = snprintf(body, sizeof body, "%d", rc);
    return host->res_end(r, body, (size_t)len);
  }
  host->res_header(r, "Content-Type", 12, "text/plain", 10);
  return host->res_end(r, "abi 1.0 plugin\n", 15);
}

/* Exactly the 1.0 descriptor: everything up to on_message. */
static const hostd_plugin desc = {HOSTD_PLUGIN_MAGIC, offsetof(hostd_plugin, on_message), HOSTD_ABI_MAJOR, 0,
                                  "abi10", "1.0", init, on_request, NULL, NULL};
HOSTD_DECLARE_ENTRY(desc)
