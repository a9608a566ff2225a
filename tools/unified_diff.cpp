// Unified diff: common prefix and suffix trimmed, Myers' O(ND) shortest edit script on the middle
// (E. Myers, "An O(ND) Difference Algorithm and Its Variations", 1986), hunks with context.
#include "tools/unified_diff.h"

#include <algorithm>
#include <vector>

#include "tools/text_file.h"

namespace m1::tools {

namespace {

enum class Op : char { equal, remove, insert };

using Lines = std::vector<std::string_view>;

// Beyond this many differences the middle is shown as all removed then all added: the trace
// memory grows with D^2 and a diff that large is read as "rewritten" anyway.
constexpr long kMaxEditDistance = 2000;

std::vector<Op> myers(const Lines & a, size_t a0, size_t a1, const Lines & b, size_t b0, size_t b1) {
  long n = static_cast<long>(a1 - a0), m = static_cast<long>(b1 - b0);
  long max_d = std::min(n + m, kMaxEditDistance);
  std::vector<std::vector<long>> trace;
  std::vector<long> v(2 * static_cast<size_t>(max_d) + 3, 0);
  long offset = max_d + 1;
  long found_d = -1;
  for (long d = 0; d <= max_d && found_d < 0; ++d) {
    trace.push_back(v);
    for (long k = -d; k <= d; k += 2) {
      long x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1])) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      long y = x - k;
      while (x < n && y < m && a[a0 + x] == b[b0 + y]) ++x, ++y;
      v[offset + k] = x;
      if (x >= n && y >= m) { found_d = d; break; }
    }
  }
  std::vector<Op> ops;
  if (found_d < 0) {  // too different: replace the whole middle
    ops.assign(static_cast<size_t>(n), Op::remove);
    ops.insert(ops.end(), static_cast<size_t>(m), Op::insert);
    return ops;
  }
  // Walk back through the saved frontiers; ops come out reversed.
  long x = n, y = m;
  for (long d = found_d; d > 0; --d) {
    const std::vector<long> & prev = trace[static_cast<size_t>(d)];
    long k = x - y;
    bool down = (k == -d || (k != d && prev[offset + k - 1] < prev[offset + k + 1]));
    long prev_k = down ? k + 1 : k - 1;
    long prev_x = prev[offset + prev_k];
    long prev_y = prev_x - prev_k;
    while (x > prev_x + (down ? 0 : 1) && y > prev_y + (down ? 1 : 0)) { ops.push_back(Op::equal); --x, --y; }
    ops.push_back(down ? Op::insert : Op::remove);
    x = prev_x, y = prev_y;
  }
  while (x > 0 && y > 0) { ops.push_back(Op::equal); --x, --y; }
  std::reverse(ops.begin(), ops.end());
  return ops;
}

std::string range_text(size_t start, size_t count) {
  // diff -u: a one-line range omits ",1"; an empty range names the line before it.
  if (count == 1) return std::to_string(start + 1);
  return std::to_string(count == 0 ? start : start + 1) + "," + std::to_string(count);
}

void append_line(std::string & out, char prefix, std::string_view line) {
  out += prefix;
  if (!line.empty() && line.back() == '\n') {
    out.append(line);
  } else {
    out.append(line);
    out += "\n\\ No newline at end of file\n";
  }
}

}  // namespace

std::string unified_diff(std::string_view before, std::string_view after, const std::string & before_name,
                         const std::string & after_name, size_t context_lines) {
  if (before == after) return "";
  Lines a = split_lines_keep_endings(before), b = split_lines_keep_endings(after);
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
    ++suffix;
  std::vector<Op> ops(prefix, Op::equal);
  std::vector<Op> middle = myers(a, prefix, a.size() - suffix, b, prefix, b.size() - suffix);
  ops.insert(ops.end(), middle.begin(), middle.end());
  ops.insert(ops.end(), suffix, Op::equal);

  // Positions in a and b before each op.
  std::vector<size_t> at_a(ops.size() + 1), at_b(ops.size() + 1);
  for (size_t i = 0; i < ops.size(); ++i) {
    at_a[i + 1] = at_a[i] + (ops[i] != Op::insert);
    at_b[i + 1] = at_b[i] + (ops[i] != Op::remove);
  }
  std::string out = "--- " + before_name + "\n+++ " + after_name + "\n";
  size_t i = 0;
  while (i < ops.size()) {
    while (i < ops.size() && ops[i] == Op::equal) ++i;
    if (i == ops.size()) break;
    size_t start = i >= context_lines ? i - context_lines : 0;
    // Extend the hunk while the next change is within 2 * context equal lines.
    size_t end = i;
    while (true) {
      while (end < ops.size() && ops[end] != Op::equal) ++end;
      size_t run = end;
      while (run < ops.size() && ops[run] == Op::equal) ++run;
      if (run < ops.size() && run - end <= 2 * context_lines) { end = run; continue; }
      end = std::min(ops.size(), end + context_lines);
      break;
    }
    out += "@@ -" + range_text(at_a[start], at_a[end] - at_a[start]) + " +" +
           range_text(at_b[start], at_b[end] - at_b[start]) + " @@\n";
    for (size_t k = start; k < end; ++k) {
      if (ops[k] == Op::equal) append_line(out, ' ', a[at_a[k]]);
      else if (ops[k] == Op::remove) append_line(out, '-', a[at_a[k]]);
      else append_line(out, '+', b[at_b[k]]);
    }
    i = end;
  }
  return out;
}

}  // namespace m1::tools
