#include "agents/cli/command.h"

#include <cstdio>
#include <string>

namespace m1::cli {

int fail(std::string_view what, std::string_view why) {
  std::string line = "m1: " + std::string(what) + ": " + std::string(why) + "\n";
  std::fputs(line.c_str(), stderr);
  return 1;
}

int fail(std::string_view what, const Status & status) { return fail(what, status.message()); }

}  // namespace m1::cli
