/*
 * Brindle plugin ABI: datastore plugins (etcd v3, Kubernetes API).
 *
 * A datastore is a store of typed resources identified by (kind, namespace, name), each holding a
 * JSON document (the whole resource: apiVersion, kind, metadata, spec) and an opaque revision
 * string. Revisions are compared for equality only, except that a list revision may be passed to
 * watch() to continue from exactly after that list.
 *
 * Threading: get/list/create/update/remove/txn may be called concurrently from several host
 * threads.
 * Watch handlers are called from a plugin-owned thread, one event at a time per watch, in order.
 * A handler must not call cancel_watch() for its own watch.
 */
#ifndef BRINDLE_DATASTORE_H
#define BRINDLE_DATASTORE_H

#include "brindle/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct brindle_resource_key {
  brindle_str_t kind;       /* e.g. "IPPool", "WorkloadEndpoint" */
  brindle_str_t namespace_; /* empty for cluster-scoped kinds */
  brindle_str_t name;
} brindle_resource_key_t;

typedef struct brindle_resource {
  brindle_resource_key_t key;
  brindle_str_t json;     /* the whole document; metadata.revision is filled by the plugin */
  brindle_str_t revision; /* opaque */
} brindle_resource_t;

/* Receives resources; everything is borrowed for the duration of the call. */
typedef void (*brindle_resource_sink_fn)(void* user, const brindle_resource_t* resource);

typedef enum brindle_watch_event_type {
  BRINDLE_WATCH_ADDED = 1,
  BRINDLE_WATCH_MODIFIED = 2,
  BRINDLE_WATCH_DELETED = 3, /* resource holds the last known document (json may be empty) */
  /* The plugin cannot continue from the last delivered revision (compaction, HTTP 410 Gone).
   * The host must list again and start a new watch. The watch delivers nothing after this. */
  BRINDLE_WATCH_RESYNC_REQUIRED = 4,
  /* Everything up to `revision` has been delivered (etcd progress notify, Kubernetes bookmark). */
  BRINDLE_WATCH_PROGRESS = 5,
  /* The connection was lost and the plugin is retrying; informational, nothing is lost. */
  BRINDLE_WATCH_DISCONNECTED = 6,
  BRINDLE_WATCH_RECONNECTED = 7
} brindle_watch_event_type_t;

typedef struct brindle_watch_event {
  uint32_t struct_size;
  brindle_watch_event_type_t type;
  const brindle_resource_t* resource; /* for ADDED/MODIFIED/DELETED; NULL otherwise */
  brindle_str_t revision;             /* revision of this event / of the progress mark */
  brindle_str_t message;              /* human-readable detail, may be empty */
} brindle_watch_event_t;

typedef void (*brindle_watch_handler_fn)(void* user, const brindle_watch_event_t* event);

typedef struct brindle_watch brindle_watch_t; /* opaque, plugin-owned */

/* Operations of a transaction (txn). New types may be appended; a plugin rejects a type it does
 * not know with BRINDLE_ERR_UNSUPPORTED without writing anything. */
typedef enum brindle_txn_op_type {
  /* Create `resource` only if absent (else BRINDLE_ERR_ALREADY_EXISTS). revision is ignored. */
  BRINDLE_TXN_CREATE = 1,
  /* Replace if the stored revision equals resource.revision, which must not be empty (else
   * BRINDLE_ERR_CONFLICT; BRINDLE_ERR_NOT_FOUND if absent). uid and creationTimestamp are kept. */
  BRINDLE_TXN_UPDATE = 2,
  /* Delete if the stored revision equals resource.revision, which must not be empty (else
   * BRINDLE_ERR_CONFLICT; BRINDLE_ERR_NOT_FOUND if absent). resource.json is ignored. */
  BRINDLE_TXN_DELETE = 3
} brindle_txn_op_type_t;

/* One operation of a transaction. Passed in arrays, so it never grows (new kinds of operation are
 * new brindle_txn_op_type_t values). */
typedef struct brindle_txn_op {
  brindle_txn_op_type_t type;
  brindle_resource_t resource; /* key always; json for CREATE/UPDATE; revision for UPDATE/DELETE */
} brindle_txn_op_t;

typedef struct brindle_datastore_vtable {
  uint32_t struct_size;

  /* Fetches one resource into `sink` (called exactly once on success). */
  brindle_status_t (*get)(brindle_instance_t* inst, const brindle_resource_key_t* key,
                          brindle_resource_sink_fn sink, void* user, brindle_error_t* err);

  /* Lists resources of `kind` (empty = every kind the plugin stores) in `namespace_` (empty = all
   * namespaces). Items are consistent as of one revision, written to `revision_sink` once after
   * the last item; pass that revision to watch() to see every later change exactly once. Items
   * may be delivered while the list is still being read (e.g. page by page): a list that fails
   * may already have delivered some of them, and the host must not treat those as complete. */
  brindle_status_t (*list)(brindle_instance_t* inst, brindle_str_t kind, brindle_str_t namespace_,
                           brindle_resource_sink_fn sink, void* user,
                           brindle_str_sink_fn revision_sink, void* revision_user,
                           brindle_error_t* err);

  /* Creates only if absent (else BRINDLE_ERR_ALREADY_EXISTS). The stored resource (with its new
   * revision, uid and creationTimestamp) is written to `sink`, as get() would return it: a
   * datastore that shows more than was written (the kubernetes plugin shows a pod's own labels on
   * its WorkloadEndpoint) shows it here too, and the host computes from this document. */
  brindle_status_t (*create)(brindle_instance_t* inst, const brindle_resource_t* resource,
                             brindle_resource_sink_fn sink, void* user, brindle_error_t* err);

  /* Replaces if the stored revision equals resource->revision (else BRINDLE_ERR_CONFLICT;
   * BRINDLE_ERR_NOT_FOUND if absent). An empty revision means unconditional. The stored resource
   * goes to `sink` as with create. */
  brindle_status_t (*update)(brindle_instance_t* inst, const brindle_resource_t* resource,
                             brindle_resource_sink_fn sink, void* user, brindle_error_t* err);

  /* Deletes if the stored revision equals `revision` (empty = unconditional). */
  brindle_status_t (*remove)(brindle_instance_t* inst, const brindle_resource_key_t* key,
                             brindle_str_t revision, brindle_error_t* err);

  /* Starts a watch of `kind` (empty = all) from just after `from_revision` (empty = from now).
   * Events arrive in revision order on a plugin thread until cancel_watch() or a
   * BRINDLE_WATCH_RESYNC_REQUIRED event. Reconnects are the plugin's job: after a reconnect the
   * stream continues without loss or repetition, or ends with RESYNC_REQUIRED. */
  brindle_status_t (*watch)(brindle_instance_t* inst, brindle_str_t kind,
                            brindle_str_t from_revision, brindle_watch_handler_fn handler,
                            void* user, brindle_watch_t** out, brindle_error_t* err);

  /* Stops a watch; when it returns, the handler is not running and will not be called again. */
  void (*cancel_watch)(brindle_instance_t* inst, brindle_watch_t* watch);

  /* ---- ABI 0.2 ---- (read only when struct_size covers it and it is not NULL) */

  /* Applies `count` operations atomically: if every operation's condition holds, all of them are
   * applied as one write at one new revision (a watch delivers one event per operation, each with
   * that revision); otherwise nothing is written. Each (kind, namespace, name) may appear at most
   * once (else BRINDLE_ERR_INVALID_ARGUMENT). Plugins accept at least 64 operations; count == 0
   * writes nothing and succeeds.
   * On success `sink` is called once per operation, in order, with what is stored: CREATE/UPDATE
   * the document as get() would return it, DELETE the key with empty json; every revision is the
   * transaction's. When a condition fails the call returns that operation's code (ALREADY_EXISTS,
   * CONFLICT, NOT_FOUND, as for create/update/remove) with a message naming the resource, and
   * sets *failed_op (if not NULL) to the index of the first failing operation; likewise for an
   * invalid operation (INVALID_ARGUMENT, or UNSUPPORTED for an unknown type). For any other
   * failure *failed_op is set to `count`. As with update/remove, BRINDLE_ERR_TIMEOUT means the
   * outcome is unknown (applied entirely or not at all).
   * A plugin that cannot write atomically leaves this NULL or returns BRINDLE_ERR_UNSUPPORTED
   * without writing; it never applies the operations one by one. */
  brindle_status_t (*txn)(brindle_instance_t* inst, const brindle_txn_op_t* ops, size_t count,
                          brindle_resource_sink_fn sink, void* user, size_t* failed_op,
                          brindle_error_t* err);
} brindle_datastore_vtable_t;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRINDLE_DATASTORE_H */
