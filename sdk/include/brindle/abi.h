/*
 * Brindle plugin ABI: the common part.
 *
 * This C header set (abi.h plus one header per plugin kind) is the whole binary contract between
 * the host (brindled, brindlectl) and plugins. Nothing else crosses the boundary: no C++ types, no
 * exceptions, no allocator hand-offs. Rules that hold for every function in the contract:
 *
 *  - Naming: `brindle_*_t` are plain data; `*_fn` are function pointer types. Functions a plugin
 *    implements live in its kind's vtable; functions the host implements live in
 *    brindle_host_services_t.
 *  - Strings are brindle_str_t {data, size}: not NUL-terminated unless said otherwise, UTF-8.
 *  - Ownership: whoever allocates frees. Every pointer passed *into* a call is borrowed and valid
 *    only until that call returns, unless the comment on the field says otherwise. Data a plugin
 *    hands back to the host is passed through a host-supplied sink callback and is borrowed for the
 *    duration of that callback only: the host copies what it keeps.
 *  - Errors: every fallible call returns brindle_status_t and, on failure, fills the caller-owned
 *    brindle_error_t (code + message). No call ever lets an exception or longjmp escape.
 *  - Extensibility: every struct that may grow starts with `uint32_t struct_size` set by its
 *    producer to sizeof() of the version it was compiled with. Fields are only ever appended. A
 *    reader uses a field only when struct_size covers it (BRINDLE_HAS_FIELD); the host refuses a
 *    plugin struct that is larger than the host knows only if it cannot ignore the tail (see docs).
 *  - Versioning: BRINDLE_ABI_VERSION_MAJOR changes on any incompatible change; MINOR on additions.
 *    The host loads a plugin whose major equals its own and whose minor is <= its own.
 */
#ifndef BRINDLE_ABI_H
#define BRINDLE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRINDLE_ABI_VERSION_MAJOR 0
#define BRINDLE_ABI_VERSION_MINOR 2

/* The one symbol every plugin exports (C linkage, default visibility). */
#define BRINDLE_PLUGIN_ENTRY_SYMBOL "brindle_plugin_entry"

#if defined(__GNUC__)
#define BRINDLE_EXPORT __attribute__((visibility("default")))
#else
#define BRINDLE_EXPORT
#endif

/* True when a struct produced with size `s->struct_size` contains `field`. */
#define BRINDLE_HAS_FIELD(s, type, field) \
  ((s)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* ---------------------------------------------------------------------------------------------- */
/* Basic types */

typedef struct brindle_str {
  const char* data; /* may be NULL when size == 0 */
  size_t size;
} brindle_str_t;

typedef enum brindle_status {
  BRINDLE_OK = 0,
  BRINDLE_ERR_INVALID_ARGUMENT = 1, /* bad input from the caller (names the field in the message) */
  BRINDLE_ERR_CONFIG = 2,           /* the plugin's configuration section is invalid */
  BRINDLE_ERR_NOT_FOUND = 3,        /* the resource or object does not exist */
  BRINDLE_ERR_ALREADY_EXISTS = 4,   /* create of something that exists */
  BRINDLE_ERR_CONFLICT = 5,         /* revision precondition failed (compare-and-swap lost) */
  BRINDLE_ERR_UNAVAILABLE = 6,      /* backend unreachable or not ready; retrying may succeed */
  BRINDLE_ERR_TIMEOUT = 7,          /* deadline exceeded; outcome unknown */
  BRINDLE_ERR_UNSUPPORTED = 8,      /* not supported by this plugin or this kernel */
  BRINDLE_ERR_PERMISSION = 9,       /* authentication or authorisation failed */
  BRINDLE_ERR_RESOURCE_EXHAUSTED = 10,
  BRINDLE_ERR_INTERNAL = 11 /* a bug or an unexpected failure (including a caught exception) */
} brindle_status_t;

#define BRINDLE_ERROR_MESSAGE_CAPACITY 1024

/* Caller-owned error report. The callee writes a NUL-terminated message (truncated to fit). */
typedef struct brindle_error {
  brindle_status_t code;
  char message[BRINDLE_ERROR_MESSAGE_CAPACITY];
} brindle_error_t;

typedef enum brindle_plugin_kind {
  BRINDLE_KIND_DATASTORE = 1,
  BRINDLE_KIND_ROUTING = 2,
  BRINDLE_KIND_ENCAPSULATION = 3,
  BRINDLE_KIND_POLICY = 4
} brindle_plugin_kind_t;

/* An IPv4 or IPv6 address with a prefix length; addresses are in network byte order.
 * family is 4 or 6; for IPv4 only addr[0..3] is used and the rest is zero. */
typedef struct brindle_ip_prefix {
  uint8_t family;
  uint8_t prefix_len;
  uint8_t addr[16];
} brindle_ip_prefix_t;

typedef struct brindle_mac {
  uint8_t bytes[6];
} brindle_mac_t;

/* ---------------------------------------------------------------------------------------------- */
/* Host services: an append-only table of functions the host implements for plugins, so that     */
/* plugins have no undefined references to host symbols. Valid from create() until destroy()      */
/* returns. All functions are thread-safe and may be called from any plugin thread.               */

typedef struct brindle_host_context brindle_host_context_t; /* opaque, host-owned */

typedef enum brindle_log_level {
  BRINDLE_LOG_TRACE = 0,
  BRINDLE_LOG_DEBUG = 1,
  BRINDLE_LOG_INFO = 2,
  BRINDLE_LOG_WARN = 3,
  BRINDLE_LOG_ERROR = 4
} brindle_log_level_t;

typedef enum brindle_metric_type {
  BRINDLE_METRIC_COUNTER = 1, /* only increases */
  BRINDLE_METRIC_GAUGE = 2    /* set to any value */
} brindle_metric_type_t;

typedef enum brindle_config_type {
  BRINDLE_CONFIG_ABSENT = 0,
  BRINDLE_CONFIG_STRING = 1,
  BRINDLE_CONFIG_INTEGER = 2,
  BRINDLE_CONFIG_FLOAT = 3,
  BRINDLE_CONFIG_BOOLEAN = 4,
  BRINDLE_CONFIG_ARRAY = 5,
  BRINDLE_CONFIG_TABLE = 6,
  BRINDLE_CONFIG_OTHER = 7 /* dates and times */
} brindle_config_type_t;

/* Receives one string; borrowed for the duration of the call. */
typedef void (*brindle_str_sink_fn)(void* user, brindle_str_t value);

typedef struct brindle_host_services {
  uint32_t struct_size;
  uint16_t abi_major; /* the host's ABI version */
  uint16_t abi_minor;
  brindle_host_context_t* context; /* pass back as first argument of every service */

  /* Logging. `fields` is an optional logfmt fragment ("peer=198.19.0.2 state=up"), may be empty. */
  void (*log)(brindle_host_context_t* ctx, brindle_log_level_t level, brindle_str_t message,
              brindle_str_t fields);
  int (*log_enabled)(brindle_host_context_t* ctx, brindle_log_level_t level);

  /* Metrics, exported by the host in Prometheus text format. Names are prefixed by the host with
   * "brindle_<kind>_<plugin>_". `labels` is a Prometheus label list without braces
   * ('device="vxlan.brindle"'), may be empty. register returns an id >= 1, 0 on invalid input. */
  uint32_t (*metric_register)(brindle_host_context_t* ctx, brindle_metric_type_t type,
                              brindle_str_t name, brindle_str_t help);
  void (*metric_add)(brindle_host_context_t* ctx, uint32_t metric, brindle_str_t labels,
                     double delta);
  void (*metric_set)(brindle_host_context_t* ctx, uint32_t metric, brindle_str_t labels,
                     double value);

  /* Clocks, nanoseconds. */
  uint64_t (*clock_monotonic_ns)(brindle_host_context_t* ctx);
  uint64_t (*clock_realtime_ns)(brindle_host_context_t* ctx);

  /* The plugin's own configuration section ([<kind>.<plugin-name>] in brindle.toml), read-only.
   * `path` is relative to the section: "vni", "tls.ca_file", "endpoints[1]"; an empty path is
   * the section itself. Getters return BRINDLE_OK, BRINDLE_ERR_NOT_FOUND (absent) or
   * BRINDLE_ERR_INVALID_ARGUMENT (present with another type; integers are not floats). Strings
   * are borrowed until destroy(). */
  brindle_config_type_t (*config_type)(brindle_host_context_t* ctx, brindle_str_t path);
  brindle_status_t (*config_get_string)(brindle_host_context_t* ctx, brindle_str_t path,
                                        brindle_str_t* out);
  brindle_status_t (*config_get_int)(brindle_host_context_t* ctx, brindle_str_t path, int64_t* out);
  brindle_status_t (*config_get_double)(brindle_host_context_t* ctx, brindle_str_t path,
                                        double* out);
  brindle_status_t (*config_get_bool)(brindle_host_context_t* ctx, brindle_str_t path, int* out);
  /* Number of elements of an array, or of keys of a table; 0 when absent or a scalar. */
  size_t (*config_size)(brindle_host_context_t* ctx, brindle_str_t path);
  /* Calls sink once per key of the table at `path`, in file order. */
  brindle_status_t (*config_keys)(brindle_host_context_t* ctx, brindle_str_t path,
                                  brindle_str_sink_fn sink, void* user);
  /* Writes "<file>:<line>:<column>" of the value at `path` (or of the section when absent) so
   * that plugin validation errors can name where the bad value is. */
  void (*config_location)(brindle_host_context_t* ctx, brindle_str_t path, brindle_str_sink_fn sink,
                          void* user);

  /* This node's identity as resolved by the host (name, primary underlay addresses). */
  brindle_str_t node_name;       /* borrowed until destroy() */
  brindle_ip_prefix_t node_ipv4; /* family 0 when the node has none */
  brindle_ip_prefix_t node_ipv6; /* family 0 when the node has none */

  /* Asks the host to call the plugin's refresh hook soon (e.g. BGP session status changed). */
  void (*request_refresh)(brindle_host_context_t* ctx);
} brindle_host_services_t;

/* ---------------------------------------------------------------------------------------------- */
/* The descriptor every plugin's entry symbol returns. */

typedef struct brindle_instance brindle_instance_t; /* opaque, plugin-owned */

typedef struct brindle_plugin_descriptor {
  uint32_t struct_size; /* sizeof(brindle_plugin_descriptor_t) as compiled into the plugin */
  uint16_t abi_major;   /* BRINDLE_ABI_VERSION_MAJOR the plugin was built with */
  uint16_t abi_minor;
  brindle_plugin_kind_t kind;
  const char* name;        /* NUL-terminated, static: "encap-none" style names are for folders; */
                           /* this is the name used in brindle.toml, e.g. "none", "vxlan" */
  const char* version;     /* NUL-terminated, static: the plugin's own version */
  const char* description; /* NUL-terminated, static, one line */

  /* Creates an instance. `host` stays valid until destroy() returns. On failure returns non-OK,
   * fills `err` and leaves *out untouched; the host then calls nothing else on it. */
  brindle_status_t (*create)(const brindle_host_services_t* host, brindle_instance_t** out,
                             brindle_error_t* err);
  /* Checks the plugin's configuration section without side effects (no connections, no kernel
   * changes): used by `brindled --check-config`. May be NULL when create() is side-effect free. */
  brindle_status_t (*validate_config)(const brindle_host_services_t* host, brindle_error_t* err);
  /* Destroys an instance: stops the plugin's threads, frees everything it owns. Never fails. The
   * host calls it before releasing the library. Kernel state the plugin programmed is left in
   * place (restarts must not disrupt traffic). */
  void (*destroy)(brindle_instance_t* instance);

  /* Points to the kind's function table (brindle_datastore_vtable_t, ...), static storage. */
  const void* vtable;
} brindle_plugin_descriptor_t;

/* The entry symbol's type. Must be callable before anything else and may be called repeatedly. */
typedef const brindle_plugin_descriptor_t* (*brindle_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRINDLE_ABI_H */
