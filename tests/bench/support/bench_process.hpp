// Helpers of the benchmarks that run brindled and etcd in a network namespace of their own: shell
// commands, /proc figures, and the forked child that owns the namespace.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>

namespace brindle::bench {

// Runs a shell command line; false (the command on stderr) when it fails.
inline bool sh(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    std::cerr << "failed: " << command << "\n";
    return false;
  }
  return true;
}

// The standard output of a shell command line ("" when it cannot run).
inline std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return out;
  }
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out.append(buffer, n);
  }
  pclose(pipe);
  return out;
}

// The fields of /proc/<pid>/status given in kB ("VmRSS", "VmHWM", "RssAnon", ...), read at once.
inline std::map<std::string, long> status_kib(pid_t pid) {
  std::map<std::string, long> fields;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(':');
    if (colon != std::string::npos && line.size() > 3 &&
        line.compare(line.size() - 3, 3, " kB") == 0) {
      fields[line.substr(0, colon)] = std::stol(line.substr(colon + 1));
    }
  }
  return fields;
}

// One of them; -1 when absent.
inline long status_kib(pid_t pid, const std::string& field) {
  const std::map<std::string, long> fields = status_kib(pid);
  const auto it = fields.find(field);
  return it == fields.end() ? -1 : it->second;
}

// Runs `body` in a forked child, so that what it sets up for itself (unshare() of a network
// namespace, etcd, brindled) ends with it; an exception's message goes to stderr after `what`.
// Returns 0 when `body` returned 0, 1 otherwise.
inline int run_forked(const std::string& what, const std::function<int()>& body) {
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    int rc = 1;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::cerr << what << ": " << e.what() << "\n";
    }
    std::fflush(stdout);
    _exit(rc);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace brindle::bench
