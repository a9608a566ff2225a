#include "agents/store_version.h"

#include <sqlite3.h>

namespace m1::agents {

std::string sqlite_version() { return sqlite3_libversion(); }

}  // namespace m1::agents
