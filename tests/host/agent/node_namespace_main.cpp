// main() of the agent tests: the process becomes the "node" (a network namespace of its own, see
// brindled_process.hpp) before any thread exists, so the machine's own namespace is never touched.
#include <gtest/gtest.h>

#include "brindled_process.hpp"

int main(int argc, char** argv) {
  if (!brindle::test::become_node_namespace()) {
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
