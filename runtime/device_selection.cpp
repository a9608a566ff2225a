#include "runtime/device_selection.h"

#include <charconv>
#include <string>

namespace m1 {

Expected<std::vector<int>> parse_device_list(std::string_view text) {
  if (text == "cpu") return std::vector<int>{};
  if (text == "cuda") return std::vector<int>{0};
  const std::string_view prefix = "cuda:";
  if (text.substr(0, prefix.size()) != prefix)
    return Status::error("device '" + std::string(text) + "': expected cpu, cuda or cuda:N[,N...]");
  std::vector<int> devices;
  std::string_view rest = text.substr(prefix.size());
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    int index = -1;
    auto [end, err] = std::from_chars(item.data(), item.data() + item.size(), index);
    if (err != std::errc() || end != item.data() + item.size() || index < 0)
      return Status::error("device '" + std::string(text) + "': '" + std::string(item) +
                           "' is not a device index");
    for (int d : devices)
      if (d == index)
        return Status::error("device '" + std::string(text) + "': device " + std::to_string(index) +
                             " named twice");
    devices.push_back(index);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return devices;
}

}  // namespace m1
