// The plugin's entry symbol: brindle_plugin_entry() returns the "kubernetes" datastore descriptor.
// Kubernetes has no multi-object transaction: KubeDatastore keeps the SDK's default txn, which
// refuses every transaction (an empty one included), and the host then takes its single-write
// paths from the start (datastore::Client::supports_txn()).
#include "kube_datastore.h"

BRINDLE_PLUGIN(brindle::kube::KubeDatastore, "kubernetes", "0.1.0",
               "Kubernetes API datastore: resources as custom resources, watched over HTTP")
