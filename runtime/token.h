// The token id type the runtime passes around (an index into the model's vocabulary).
#pragma once

#include <cstdint>

namespace m1 {

using Token = std::int32_t;

}  // namespace m1
