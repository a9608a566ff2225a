// A line-based unified diff (the `diff -u` format) that front ends show for every edit. Lines are
// compared with their terminators, so a CRLF or final-newline change shows up; a last line without
// a newline gets the "\ No newline at end of file" marker.
#pragma once

#include <string>
#include <string_view>

namespace m1::tools {

// Empty when the texts are equal. Names go on the "---" / "+++" lines ("/dev/null" for a file
// that is created or deleted).
std::string unified_diff(std::string_view before, std::string_view after, const std::string & before_name,
                         const std::string & after_name, size_t context_lines = 3);

}  // namespace m1::tools
