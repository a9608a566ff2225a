// Applying the hunks of one "*** Update File" section to a file's text, in memory.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "tools/patch_format.h"

namespace m1::tools {

// The new text, or why a hunk does not match (naming the hunk, the patch line and the lines that
// were looked for). Line endings: lines kept from the file keep theirs, added lines take the
// file's dominant one; the file ends with a newline iff it did before (an empty file gets one).
Expected<std::string> apply_hunks(const std::string & text, const std::vector<PatchHunk> & hunks,
                                  const std::string & shown_path);

}  // namespace m1::tools
