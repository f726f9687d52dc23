// libFuzzer entry for the etcd plugin's document handling: whatever the bytes, the quick way
// (validate, check the identity, splice metadata into the text) and the full parse must agree —
// on creates, updates and reads, on success or error, member for member, byte for byte on compact
// documents (tests/plugins/datastore-etcd/documents_differential.hpp). The first byte picks the
// resource key (cluster-scoped or namespaced), the rest is the document.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../plugins/datastore-etcd/documents_differential.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const brindle::ResourceKey key = (data[0] & 1) != 0
                                       ? brindle::ResourceKey{"NetworkPolicy", "prod", "deny"}
                                       : brindle::ResourceKey{"IPAMBlock", "", "b"};
  const std::string_view document(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string mismatch = brindle::etcd::testing::differential_mismatch(document, key);
  if (!mismatch.empty()) {
    std::fprintf(stderr, "the two ways disagree: %s\n", mismatch.c_str());
    std::abort();
  }
  return 0;
}
