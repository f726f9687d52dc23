// Names the calling thread (shown by `top -H`, `ps -L`, perf and gdb): what each of brindled's
// threads is for. Linux keeps 15 characters; longer names are cut there.
#pragma once

#include <pthread.h>

#include <string>

namespace brindle {

inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace brindle
