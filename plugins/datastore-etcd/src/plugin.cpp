// The plugin's entry symbol: brindle_plugin_entry() returns the "etcd" datastore descriptor.
#include "etcd_datastore.h"

BRINDLE_PLUGIN(brindle::etcd::EtcdDatastore, "etcd", "0.1.0",
               "etcd v3 datastore: resources as JSON under a key prefix, watched over gRPC")
