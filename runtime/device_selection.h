// Parses the user's device choice ("cpu", "cuda", "cuda:0,1") into the device list EngineOptions
// carries: empty = CPU.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"

namespace m1 {

Expected<std::vector<int>> parse_device_list(std::string_view text);

}  // namespace m1
