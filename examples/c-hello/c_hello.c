/* A hostd plugin in plain C99, against hostd/plugin.h only. */
#include <hostd/plugin.h>

#include <stdio.h>
#include <string.h>

static const hostd_host_api *host;
static char greeting[256] = "Hello from C";

static int c_init(const hostd_host_api *api, void **state, char *err, size_t err_size) {
  hostd_str v;
  host = api;
  (void)state;
  if (api->abi_major != HOSTD_ABI_MAJOR) {
    snprintf(err, err_size, "host ABI %u differs from %d", (unsigned)api->abi_major, HOSTD_ABI_MAJOR);
    return HOSTD_ERROR;
  }
  if (api->config_get("greeting", 8, &v) == HOSTD_OK) {
    size_t n = v.len < sizeof greeting - 1 ? v.len : sizeof greeting - 1;
    memcpy(greeting, v.data, n);
    greeting[n] = '\0';
  }
  return HOSTD_OK;
}

static int c_request(void *state, hostd_request *req, hostd_response *res, char *err, size_t err_size) {
  char body[512];
  hostd_str path = host->req_path(req);
  int n = snprintf(body, sizeof body, "%s (path %.*s, worker %d)\n", greeting, (int)path.len, path.data,
                   host->worker_id());
  (void)state;
  (void)err;
  (void)err_size;
  host->res_status(res, 200);
  host->res_header(res, "Content-Type", 12, "text/plain", 10);
  return host->res_end(res, body, (size_t)n) == HOSTD_OK ? HOSTD_OK : HOSTD_ERROR;
}

static const hostd_plugin descriptor = {HOSTD_PLUGIN_MAGIC, sizeof(hostd_plugin), HOSTD_ABI_MAJOR,
                                        HOSTD_ABI_MINOR,    "c_hello",            "1.0.0",
                                        c_init,             c_request,            NULL, NULL};

HOSTD_DECLARE_ENTRY(descriptor)
