// The SQLite library the session store runs on, for `m1 doctor`.
#pragma once

#include <string>

namespace m1::agents {

std::string sqlite_version();

}  // namespace m1::agents
