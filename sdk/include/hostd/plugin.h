/**
 * @file plugin.h
 * @brief The stable C ABI between hostd and a plugin (.so).
 *
 * This header is the only contract between the host and a plugin. A plugin never
 * links against hostd: it exports one entry function, #HOSTD_ENTRY_SYMBOL, that returns a
 * static descriptor (hostd_plugin); the host hands the plugin a table of host functions
 * (hostd_host_api) at init. Plain C (C99): usable from C, C++ or anything that speaks the
 * C ABI. C++ plugins normally use the header-only layer in hostd/plugin.hpp.
 *
 * @par ABI versioning policy
 * - #HOSTD_ABI_MAJOR changes when anything already published changes meaning, size or
 *   order. The host refuses a plugin whose major differs from its own.
 * - #HOSTD_ABI_MINOR changes when something is ADDED at the END of a struct (host API
 *   table or plugin descriptor). Existing members never move. A host loads plugins built
 *   against any minor of its major:
 *   - newer plugin on an older host: the plugin must check host->abi_minor (or
 *     host->size) before calling a newer member;
 *   - older plugin on a newer host: the host reads desc->size and treats descriptor
 *     members past that size as absent.
 * - Every struct carries its own sizeof() in its first members, so either side can tell
 *   what the other was built with.
 *
 * @par ABI changelog
 * - 1.0: first published ABI: descriptor (init/on_request/shutdown), host API with
 *   request accessors, response writers (fixed and streaming), logging, plugin config,
 *   worker id, timers, fatal.
 * - 1.1: host API: queue_work (blocking work on a host thread pool), broadcast and
 *   send_to (messages between workers); descriptor: on_message; #HOSTD_ETOOBIG.
 * - 1.2: host API: shared state (state_get/set/del/incr/watch/unwatch) and child
 *   processes (exec, exec_file, spawn, child_kill); #HOSTD_EUNAVAILABLE,
 *   #HOSTD_ETIMEDOUT; hostd_exec_options, hostd_exec_result, hostd_spawn_callbacks.
 * - 1.3: request and response handles are checked: a call on a handle whose request has
 *   ended returns #HOSTD_ESTALE (new) and touches nothing; host API: res_output and
 *   res_on_drain (back-pressure for streaming responses), plugin_error (an exception
 *   escaped a callback: logged, the worker keeps serving). Behaviour: res_status refuses
 *   1xx; res_header refuses non-token names and conflicting framing headers; a body on a
 *   204/304 or past a Content-Length is refused; an on_request error answers 500 and the
 *   worker keeps serving ([cluster] on_exception).
 *
 * @par Threading and lifetime
 * Every callback into the plugin runs on the worker's single event-loop thread, and
 * every host function must be called from that thread (the one exception: the `work`
 * function of queue_work runs on a pool thread and must call none). Never block in a
 * callback: a worker serves all its connections from one loop. A worker process loads
 * exactly one plugin; it is never unloaded while the process runs (reload = a new worker
 * process).
 *
 * @par Errors
 * Functions return #HOSTD_OK (0) on success and a negative HOSTD_E* code on failure.
 * No exception, longjmp or C++ object ever crosses this boundary.
 */
#ifndef HOSTD_PLUGIN_H
#define HOSTD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** "HSTD": first member of every descriptor; anything else is not a hostd plugin. */
#define HOSTD_PLUGIN_MAGIC 0x44545348u
/** The ABI major this header describes; a host refuses a plugin built with another one. */
#define HOSTD_ABI_MAJOR 1
/** The ABI minor this header describes (see the versioning policy at the top). */
#define HOSTD_ABI_MINOR 3

/** The one symbol a plugin exports (see hostd_plugin_entry_fn). */
#define HOSTD_ENTRY_SYMBOL "hostd_plugin_entry"

/** Gives a symbol default visibility, so that it is exported from a plugin built with
 *  -fvisibility=hidden. HOSTD_DECLARE_ENTRY and HOSTD_PLUGIN use it for the entry. */
#if defined(__GNUC__)
#define HOSTD_EXPORT __attribute__((visibility("default")))
#else
#define HOSTD_EXPORT
#endif

/**
 * @name Status codes
 * What host functions return (and what init / on_request return to the host): #HOSTD_OK
 * or one of the negative codes. Each function says which ones it can return.
 * @{
 */
#define HOSTD_OK 0             /**< success */
#define HOSTD_ERROR (-1)       /**< generic failure; the accompanying message says more */
#define HOSTD_EINVAL (-2)      /**< bad argument: nothing was done (e.g. CR/LF in a header, a status
                                    out of range, an options struct too small, a signal that is
                                    not allowed, incr of a value that is not an integer) */
#define HOSTD_ESTATE (-3)      /**< wrong state (e.g. a header after the head was sent, a second
                                    drain callback, SDK use before init) */
#define HOSTD_ENOTFOUND (-4)   /**< no such header, config key, state key, timer, watch, child
                                    or program */
#define HOSTD_ECLOSED (-5)     /**< the client connection is gone; the data was discarded */
#define HOSTD_ETOOBIG (-6)     /**< too large: a message or state entry past #HOSTD_MAX_MESSAGE,
                                    or a child's output past max_output (1.1) */
#define HOSTD_EUNAVAILABLE (-7) /**< the shared-state backend cannot be reached, or no child
                                     process can be started now: [children] max_per_worker
                                     run and max_queued calls already wait (1.2) */
#define HOSTD_ETIMEDOUT (-8)   /**< a child process ran past its timeout, or waited past
                                    [children] queue_timeout_ms for a slot and never ran (1.2) */
#define HOSTD_ESTALE (-9)      /**< the request/response handle belongs to a request that has
                                    ended; nothing was done (1.3; older hosts could not tell) */
/** @} */

/** The largest topic + payload of one message between workers, and the largest key +
 *  value of one shared-state entry, in bytes (1.1). */
#define HOSTD_MAX_MESSAGE (60 * 1024)

/**
 * @name Log levels
 * The `level` of hostd_host_api::log (syslog's numbers).
 * @{
 */
#define HOSTD_LOG_ERROR 3   /**< something failed */
#define HOSTD_LOG_WARNING 4 /**< something is wrong but the plugin copes */
#define HOSTD_LOG_INFO 6    /**< routine events */
#define HOSTD_LOG_DEBUG 7   /**< detail for debugging */
/** @} */

/** A byte string that is NOT NUL-terminated. Borrowed: see each function for how long. */
typedef struct hostd_str {
  const char *data; /**< the first byte; may be NULL when len is 0 */
  size_t len;       /**< the number of bytes */
} hostd_str;

/**
 * Completion of a shared-state write (1.2), on the loop. status HOSTD_OK once the store
 * applied the write — by then this worker's replica already shows it (embedded store) —
 * or an error: HOSTD_EUNAVAILABLE (Redis unreachable), HOSTD_EINVAL (incr of a value that
 * is not an integer, or overflow), HOSTD_ERROR. `value` is the new value of an incr (0
 * otherwise); `error` (not NUL-terminated, empty on success) says what went wrong.
 */
typedef void (*hostd_state_done_fn)(void *arg, int status, int64_t value, const char *error, size_t error_len);

/**
 * A watched key changed (1.2), on the loop: its new value, or deleted = 1. Strings live
 * only during the call. The replica already holds the new value when this runs.
 */
typedef void (*hostd_state_watch_fn)(void *arg, const char *key, size_t key_len, const char *value,
                                     size_t value_len, int deleted);

/** Options of exec / exec_file / spawn (1.2). Pass NULL for the defaults. */
typedef struct hostd_exec_options {
  uint32_t size;       /**< sizeof(hostd_exec_options); smaller: the call fails, HOSTD_EINVAL */
  uint32_t timeout_ms; /**< kill the child (and its process group) after this; 0 = never */
  size_t max_output;   /**< exec/exec_file: stdout and stderr cap each; 0 = 1 MiB. Past it
                            the child is killed and the result is HOSTD_ETOOBIG. */
  const char *cwd;     /**< working directory (NUL-terminated), NULL = the worker's */
} hostd_exec_options;

/** How an exec / exec_file ended (1.2). Everything lives only during the callback. */
typedef struct hostd_exec_result {
  int status;      /**< HOSTD_OK: the child ran and exited (see exit_code / term_signal);
                        HOSTD_ETIMEDOUT: killed at timeout_ms; HOSTD_ETOOBIG: killed at
                        max_output; HOSTD_ERROR: it could not be started (see message) */
  int exit_code;   /**< exit status if it exited, else -1 */
  int term_signal; /**< the signal that ended it, 0 if it exited */
  hostd_str out;   /**< everything it wrote to stdout (at most max_output) */
  hostd_str err;   /**< everything it wrote to stderr (at most max_output) */
  hostd_str message; /**< empty if status is HOSTD_OK, else what happened, for a log line */
} hostd_exec_result;

/** What a spawned child reports (1.2); each may be NULL. All run on the loop. */
typedef struct hostd_spawn_callbacks {
  uint32_t size; /**< sizeof(hostd_spawn_callbacks) */
  void (*on_stdout)(void *arg, const char *data, size_t len); /**< a chunk, as it arrives */
  void (*on_stderr)(void *arg, const char *data, size_t len); /**< a chunk, as it arrives */
  /** Last call, after both streams ended. status as in hostd_exec_result. */
  void (*on_exit)(void *arg, int status, int exit_code, int term_signal);
} hostd_spawn_callbacks;

/**
 * One request. Opaque handle (a checked token, not a pointer): valid during the
 * on_request call that received it. Used after that, the string accessors return
 * {NULL, 0}, req_header_count returns 0 and req_header/req_header_at HOSTD_ESTALE — never
 * another request's data. Copy what you need to keep.
 */
typedef struct hostd_request hostd_request;

/**
 * One response. Opaque handle (a checked token, not a pointer): valid from on_request
 * until res_end returned. The handler may return before ending it and end it later from
 * another loop callback (a timer, a completion): that is how a response is finished
 * asynchronously. Requests pipelined behind it on the same connection wait, in order.
 * If the client disconnects meanwhile, writes return HOSTD_ECLOSED and the handle stays
 * valid until res_end. Once the response ended, every res_* call on the handle (a copy
 * kept in a timer, say) returns HOSTD_ESTALE and touches nothing: not the next response
 * on the same connection, not freed memory. A response that is never ended keeps its
 * connection open.
 */
typedef struct hostd_response hostd_response;

/**
 * Host functions, passed to init. The table and every pointer in it stay valid for the
 * life of the process. Members are only ever appended (see the versioning policy).
 */
typedef struct hostd_host_api {
  uint32_t size;      /**< sizeof(hostd_host_api) as the host was built */
  uint16_t abi_major; /**< the host's HOSTD_ABI_MAJOR */
  uint16_t abi_minor; /**< the host's HOSTD_ABI_MINOR */

  /**
   * @name Request (1.0)
   * Accessors of the request being handled. Returned strings live as long as the request
   * (until on_request returns); a handle used after that gets {NULL, 0} / 0 /
   * #HOSTD_ESTALE, never another request's data.
   * @{
   */
  hostd_str (*req_method)(const hostd_request *req);  /**< "GET", "POST", ... */
  hostd_str (*req_target)(const hostd_request *req);  /**< raw request-target: "/a/b?x=1" */
  hostd_str (*req_path)(const hostd_request *req);    /**< target before '?': "/a/b" (not decoded) */
  hostd_str (*req_query)(const hostd_request *req);   /**< target after '?': "x=1"; empty if none */
  /** Header value by name, case-insensitive; first match. HOSTD_ENOTFOUND if absent. */
  int (*req_header)(const hostd_request *req, const char *name, size_t name_len, hostd_str *value);
  /** The number of header lines as received (0 for a stale handle). */
  size_t (*req_header_count)(const hostd_request *req);
  /** The i-th header as received (0-based). HOSTD_EINVAL if i is out of range. */
  int (*req_header_at)(const hostd_request *req, size_t i, hostd_str *name, hostd_str *value);
  /** The whole request body (de-chunked), at most [limits] max_body_bytes. */
  hostd_str (*req_body)(const hostd_request *req);
  /** Peer address as text, "127.0.0.1:51234" or "[::1]:51234". */
  hostd_str (*req_remote_addr)(const hostd_request *req);
  /** @} */

  /**
   * @name Response (1.0)
   * Writers of the response. Strings are copied before the call returns. Every call on
   * a response that has ended returns #HOSTD_ESTALE (1.3); a write to a client that went
   * away returns #HOSTD_ECLOSED and is dropped (end the response anyway).
   * @{
   */
  /** Status code 200..999 (default 200). HOSTD_EINVAL outside that range (1xx interim
   *  responses are the host's, e.g. 100 Continue), HOSTD_ESTATE once the head was sent. */
  int (*res_status)(hostd_response *res, int status);
  /**
   * Adds a header. HOSTD_EINVAL (nothing added) if the name is not an RFC 9110 token
   * (letters, digits and the characters listed in RFC 9110 section 5.6.2), if the value holds a control byte other than HTAB
   * (CR, LF, NUL: no header injection), and for framing the host cannot honour:
   * - Content-Length: a decimal number, once, not with Transfer-Encoding. The body is then
   *   checked against it: more bytes are refused (HOSTD_EINVAL, nothing of that call
   *   sent); fewer at res_end and the connection is closed after the response (never
   *   reused).
   * - Transfer-Encoding: only "chunked" (the default for a streamed HTTP/1.1 response),
   *   not with Content-Length.
   * - Connection: "close" (closes the connection after this response) or "keep-alive".
   *
   * The host writes these three itself; Date and Server are added by the host.
   * HOSTD_ESTATE once the head was sent.
   */
  int (*res_header)(hostd_response *res, const char *name, size_t name_len, const char *value,
                    size_t value_len);
  /**
   * Streams a chunk of body. The first call sends the head: with the plugin's
   * Content-Length if it set one, else chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
   * HOSTD_EINVAL (nothing sent) for body bytes on a 204 or 304, or past the
   * Content-Length. A HEAD request's response never has a body: bytes are counted, not
   * sent. Output is buffered while the client is slower than the plugin: see res_output
   * and res_on_drain (1.3) to stream with bounded memory.
   */
  int (*res_write)(hostd_response *res, const char *data, size_t len);
  /**
   * Finishes the response, with a last piece of body (may be empty). If nothing was
   * written yet, Content-Length is set to len. After this call the handle is dead.
   * HOSTD_EINVAL as for res_write (the response is then NOT ended).
   */
  int (*res_end)(hostd_response *res, const char *data, size_t len);

  /** @} */

  /**
   * @name Host services (1.0)
   * @{
   */
  /** Writes one log line, tagged with the plugin, worker id and pid. */
  void (*log)(int level, const char *msg, size_t len);
  /**
   * A value from this plugin's [plugin.NAME] config section (key case-insensitive).
   * The string lives for the life of the process. HOSTD_ENOTFOUND if absent.
   */
  int (*config_get)(const char *key, size_t key_len, hostd_str *value);
  /** This worker's slot id, 1..workers (stable across restarts of the slot). */
  int (*worker_id)(void);
  /**
   * Starts a timer on the worker's loop: cb(arg) after delay_ms, then every repeat_ms
   * if repeat_ms > 0. dtor(arg) (may be NULL) runs once when the timer is over (one-shot
   * fired, or cancelled); timers still pending when the worker process exits are dropped
   * with the process. Returns an id > 0, or 0 on failure (dtor(arg) has then already run).
   */
  uint64_t (*timer_start)(uint64_t delay_ms, uint64_t repeat_ms, void (*cb)(void *arg), void *arg,
                          void (*dtor)(void *arg));
  /** Cancels a timer; HOSTD_ENOTFOUND if it is already over. */
  int (*timer_cancel)(uint64_t id);
  /**
   * The plugin cannot go on: the worker logs msg, asks the master for a replacement
   * ("suicide"), then stops accepting, drains and exits. Returns; does not abort. The
   * replacement goes through the restart policy like a crash ([cluster] restart_limit,
   * restart_window, backoff), so a fatal per request cannot make the cluster respawn
   * faster than the policy allows.
   */
  void (*fatal)(const char *msg, size_t len);

  /** @} */

  /**
   * @name Work and messages (1.1; check abi_minor >= 1 before use)
   * @{
   */
  /**
   * Runs work(arg) on one of the worker process's pool threads (libuv's pool: size
   * UV_THREADPOOL_SIZE, default 4), so a blocking call (a database query, a file read)
   * does not stall the event loop; then done(arg, status) on the loop, status HOSTD_OK.
   * work must not call any host function (it is not on the loop thread); done may, and
   * is where the response is finished. Returns HOSTD_OK, or an error and then neither
   * callback runs.
   */
  int (*queue_work)(void (*work)(void *arg), void (*done)(void *arg, int status), void *arg);
  /**
   * Sends (topic, payload) to every worker of this server — this one too if include_self
   * — through the master; each receives it in its plugin's on_message, on its loop, once.
   * Fire and forget: delivery is asynchronous and in order per sender; a worker starting
   * at that moment gets it right after its init. HOSTD_ETOOBIG if
   * topic_len + len > HOSTD_MAX_MESSAGE. Strings are copied before the call returns.
   */
  int (*broadcast)(const char *topic, size_t topic_len, const char *payload, size_t len, int include_self);
  /**
   * Sends (topic, payload) to the worker with this slot id (1..workers), as broadcast
   * does. HOSTD_EINVAL for an id out of range; a message to a slot that has no worker at
   * that moment (it is between a crash and its respawn) is dropped (and logged).
   */
  int (*send_to)(int worker_id, const char *topic, size_t topic_len, const char *payload, size_t len);

  /** @} */

  /**
   * @name Shared state (1.2; check abi_minor >= 2 before use)
   * A key/value store shared by every worker: held by the master
   * ([state] backend = embedded, the default) or by Redis ([state] backend = redis,
   * shared by every hostd using the same server and prefix). Each worker keeps a
   * replica, complete before init runs: reads are local and immediate, writes go to the
   * store, which pushes every change to every worker. Keys and values are byte strings;
   * key_len + value_len <= #HOSTD_MAX_MESSAGE (else #HOSTD_ETOOBIG), keys not empty.
   * Writes from one worker are applied in the order made. `done` may be NULL.
   *
   * Ordering: a write's `done` runs once the writer's replica shows the write; the change
   * reaches every watch (this worker's too) through the replica, in the order the store
   * applied the writes, and a watch of the writer fires before its `done`.
   *
   * Failure semantics with Redis:
   * - At start-up, if Redis cannot be reached, workers start with an empty replica that
   *   catches up when Redis comes ([state] wait_for_redis = N makes hostd wait up to N
   *   seconds instead, then exit 1).
   * - While Redis is down, reads answer from the replica (the last known values) and
   *   writes fail at once with #HOSTD_EUNAVAILABLE; the error says "was not sent, so it
   *   was not applied". A write whose connection broke after it was sent fails with
   *   #HOSTD_EUNAVAILABLE and "may or may not have been applied".
   * - Only writes made through hostd (any hostd on the same Redis, db and prefix) are
   *   pushed to replicas as they happen. A key written by another Redis client is seen at
   *   the next (re)connect, when hostd loads every key under the prefix again; a Redis
   *   that comes back empty (restarted without persistence) empties the replicas then.
   * @{
   */
  /** Reads this worker's replica (no I/O). *value lives until the current callback
   *  returns. #HOSTD_ENOTFOUND if absent. */
  int (*state_get)(const char *key, size_t key_len, hostd_str *value);
  /** Sets key to value in the store; done (may be NULL) runs once it is applied or failed.
   *  Returns #HOSTD_OK (done will run), or without calling done: #HOSTD_EINVAL (empty key),
   *  #HOSTD_ETOOBIG, #HOSTD_EUNAVAILABLE (the master is gone: the worker is exiting).
   *  Strings are copied before the call returns. */
  int (*state_set)(const char *key, size_t key_len, const char *value, size_t value_len,
                   hostd_state_done_fn done, void *arg);
  /** Deletes key (deleting an absent key succeeds); as state_set. */
  int (*state_del)(const char *key, size_t key_len, hostd_state_done_fn done, void *arg);
  /** Atomically adds delta to the integer in key (absent = 0); done gets the new value.
   *  As state_set; done gets #HOSTD_EINVAL if the value is not an integer or would
   *  overflow. */
  int (*state_incr)(const char *key, size_t key_len, int64_t delta, hostd_state_done_fn done, void *arg);
  /**
   * Calls cb(arg, ...) on every change of `key` (prefix = 0) or of any key starting with
   * it (prefix = 1; an empty prefix watches everything), whoever made it, from now on: a
   * watch does not fire for what the replica already holds (read that with state_get).
   * dtor(arg) (may be NULL) runs when the watch is removed. Returns an id > 0, or 0 on
   * failure (dtor has then already run).
   */
  uint64_t (*state_watch)(const char *key, size_t key_len, int prefix, hostd_state_watch_fn cb, void *arg,
                          void (*dtor)(void *arg));
  int (*state_unwatch)(uint64_t id); /**< Removes a watch; #HOSTD_ENOTFOUND if no such watch. */
  /** @} */

  /**
   * @name Child processes (1.2; check abi_minor >= 2 before use)
   * Started without blocking the loop; stdin is /dev/null, no other
   * descriptor is inherited; each runs in a process group of its own under a small hostd
   * supervisor. A child has ended (done / on_exit) once the program and whatever it left
   * running in its group have ended; exit code and signal are the program's. A timeout,
   * an output cap, or the worker exiting — even by SIGKILL — kills the program and
   * everything it started (also what left its group, e.g. timeout(1), a daemon).
   * HOSTD_ENOTFOUND: no such program (looked up from opts->cwd); HOSTD_EINVAL: bad
   * options (opts->size too small, cwd not a directory).
   *
   * Bounded: at most [children] max_per_worker (default 32) children of a worker are live
   * at once (until the program and what it left running are gone). A call beyond that
   * waits, first in first out, and starts when one ends; its timeout_ms counts from
   * then. It waits at most [children] queue_timeout_ms (default 10000): then it ends
   * without running, status #HOSTD_ETIMEDOUT, exit_code -1, and a message saying so. With
   * [children] max_queued (default 1024) calls already waiting, the call fails at once:
   * #HOSTD_EUNAVAILABLE (spawn: 0). child_kill of a waiting child ends it (on_exit with
   * the signal) without running it.
   * @{
   */
  /** Runs `/bin/sh -c command`; done(arg, result) once it ended and its output is read. */
  int (*exec)(const char *command, size_t len, const hostd_exec_options *opts,
              void (*done)(void *arg, const hostd_exec_result *result), void *arg);
  /** Runs `file` (searched in PATH if it holds no '/') with args (NULL-terminated, may be
   *  NULL; argv[0] is file), no shell. */
  int (*exec_file)(const char *file, const char *const *args, const hostd_exec_options *opts,
                   void (*done)(void *arg, const hostd_exec_result *result), void *arg);
  /** As exec_file, but output streams to cbs as it comes (max_output does not apply).
   *  Returns a child id > 0 (for child_kill), or 0 on failure. cbs is copied. */
  uint64_t (*spawn)(const char *file, const char *const *args, const hostd_exec_options *opts,
                    const hostd_spawn_callbacks *cbs, void *arg);
  /** Sends signum to the program's process group (the program and what it runs in it);
   *  SIGKILL ends the program and everything it started. HOSTD_EINVAL
   *  for SIGSTOP and for SIGRTMIN+1 / SIGRTMIN+2 (the supervisor's); HOSTD_ENOTFOUND once
   *  the child has ended. */
  int (*child_kill)(uint64_t id, int signum);
  /** @} */

  /**
   * @name Back-pressure and errors (1.3; check abi_minor >= 3 before use)
   * A connection buffers what the client has not taken yet. Past
   * [limits] max_output_buffer it stops reading the client's next requests; a client
   * that takes nothing for [limits] send_timeout seconds is disconnected. A streaming
   * plugin keeps its memory bounded by writing while *buffered < *limit, then waiting
   * for res_on_drain:
   * @code
   * static void pump(void *arg, int status) {
   *   struct job *j = arg; size_t buffered, limit;
   *   if (status != HOSTD_OK) { host->res_end(j->res, NULL, 0); free(j); return; }
   *   while (j->left && host->res_output(j->res, &buffered, &limit) == HOSTD_OK && buffered < limit)
   *     host->res_write(j->res, j->chunk, CHUNK), j->left--;
   *   if (j->left && host->res_on_drain(j->res, pump, j) == HOSTD_OK) return;
   *   host->res_end(j->res, NULL, 0); free(j);
   * }
   * @endcode
   * @{
   */
  /**
   * *buffered = output bytes of this response's connection not yet taken by the client;
   * *limit = [limits] max_output_buffer (either pointer may be NULL). HOSTD_OK,
   * HOSTD_ECLOSED (client gone: stop producing and end the response), HOSTD_ESTALE.
   */
  int (*res_output)(hostd_response *res, size_t *buffered, size_t *limit);
  /**
   * Calls cb(arg, status) once, on the loop (never from inside this call, nor from inside
   * a res_write):
   * - #HOSTD_OK: the buffered output fell to half of max_output_buffer or less;
   * - #HOSTD_ECLOSED: the client went away (or was disconnected by send_timeout) first:
   *   end the response;
   * - #HOSTD_ESTATE: the response was ended first: only release arg (this one runs from
   *   inside that res_end).
   *
   * Returns HOSTD_OK (cb will run), or without keeping cb: HOSTD_ESTATE (a callback is
   * already waiting), HOSTD_ECLOSED (client gone), HOSTD_ESTALE, HOSTD_EINVAL (cb NULL).
   */
  int (*res_on_drain)(hostd_response *res, void (*cb)(void *arg, int status), void *arg);
  /**
   * Reports an error that escaped a plugin callback other than on_request (a timer, a
   * completion, on_message, a watch): the host logs msg (escaped, capped) and applies
   * [cluster] on_exception — respond (default): the worker keeps serving; replace: the
   * worker is replaced through the restart policy, as with fatal.
   */
  void (*plugin_error)(const char *msg, size_t len);
  /** @} */
} hostd_host_api;

/**
 * init: called once per worker process, before it serves. `host` lives as long as the
 * process. On success return HOSTD_OK and optionally set *state (passed back to every
 * callback). On failure write a human-readable reason into err (NUL-terminated, at most
 * err_size bytes) and return an error code: the worker exits with the "fatal" code and
 * the master shows the message (and does not respawn in a loop).
 */
typedef int (*hostd_init_fn)(const hostd_host_api *host, void **state, char *err, size_t err_size);

/**
 * on_request: called for every request. Return HOSTD_OK after ending the response or
 * arranging to end it later. Return an error (with a reason in err) if the handler
 * failed: the client gets a 500 if the head was not sent yet (else the connection is
 * closed, so the client sees the response cut off), the error is logged, and the worker
 * keeps serving — unless [cluster] on_exception = replace: then it is replaced through
 * the restart policy. Either way the response handle is dead afterwards.
 */
typedef int (*hostd_request_fn)(void *state, hostd_request *req, hostd_response *res, char *err,
                                size_t err_size);

/** shutdown: called once when the worker has drained, before it exits. May be NULL. */
typedef void (*hostd_shutdown_fn)(void *state);

/** What the entry function returns: static data, valid for the life of the process. */
typedef struct hostd_plugin {
  uint32_t magic;     /**< HOSTD_PLUGIN_MAGIC */
  uint32_t size;      /**< sizeof(hostd_plugin) as the plugin was built */
  uint16_t abi_major; /**< HOSTD_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor; /**< HOSTD_ABI_MINOR the plugin was built with */
  const char *name;    /**< short name, [a-z0-9_-]+; selects the [plugin.NAME] section */
  const char *version; /**< the plugin's own version, free text ("1.0.0") */
  hostd_init_fn init;          /**< may be NULL */
  hostd_request_fn on_request; /**< required */
  hostd_shutdown_fn shutdown;  /**< may be NULL */
  /* ---- 1.1 ---- */
  /**
   * A message from broadcast/send_to, on the loop: `from_worker` is the sender's slot id.
   * The strings live only during the call. May be NULL (messages are then dropped).
   */
  void (*on_message)(void *state, const char *topic, size_t topic_len, const char *payload, size_t len,
                     int from_worker);
} hostd_plugin;

/**
 * The entry point, exported as HOSTD_ENTRY_SYMBOL. Receives the host's ABI version so a
 * plugin could adapt; returns its static descriptor (never NULL for a working plugin).
 */
typedef const hostd_plugin *(*hostd_plugin_entry_fn)(uint16_t host_abi_major, uint16_t host_abi_minor);

/**
 * Declares the entry point of a C plugin:
 *   static const hostd_plugin desc = { HOSTD_PLUGIN_MAGIC, sizeof(hostd_plugin),
 *     HOSTD_ABI_MAJOR, HOSTD_ABI_MINOR, "name", "1.0", my_init, my_request, NULL };
 *   HOSTD_DECLARE_ENTRY(desc)
 */
#define HOSTD_DECLARE_ENTRY(descriptor)                                                         \
  HOSTD_EXPORT const hostd_plugin *hostd_plugin_entry(uint16_t host_abi_major,                 \
                                                      uint16_t host_abi_minor) {               \
    (void)host_abi_major;                                                                       \
    (void)host_abi_minor;                                                                       \
    return &(descriptor);                                                                       \
  }

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HOSTD_PLUGIN_H */
