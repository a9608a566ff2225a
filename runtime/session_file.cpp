#include "runtime/session_file.h"

#include "runtime/checksum.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace m1 {

namespace {

constexpr char kMagic[8] = {'M', '1', 'S', 'E', 'S', 'S', 'N', '1'};

void put_u64(std::vector<std::uint8_t> & out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(std::uint8_t(v >> (8 * i)));
}

// Reads from a byte buffer, remembering the first overrun.
struct Reader {
  const std::vector<std::uint8_t> & data;
  size_t at = 0;
  bool overrun = false;
  std::uint64_t u64() {
    if (at + 8 > data.size()) {
      overrun = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(data[at + size_t(i)]) << (8 * i);
    at += 8;
    return v;
  }
  bool bytes(void * out, std::uint64_t n) {
    if (n > data.size() - at) return !(overrun = true);
    std::memcpy(out, data.data() + at, n);
    at += n;
    return true;
  }
};

}  // namespace

Status write_session_file(const std::string & path, const SessionFile & file) {
  std::vector<std::uint8_t> out(kMagic, kMagic + 8);
  put_u64(out, file.vocab_size);
  put_u64(out, file.tokens.size());
  const auto * token_bytes = reinterpret_cast<const std::uint8_t *>(file.tokens.data());
  out.insert(out.end(), token_bytes, token_bytes + file.tokens.size() * sizeof(Token));
  put_u64(out, file.state.size());
  out.insert(out.end(), file.state.begin(), file.state.end());
  put_u64(out, checksum64(out));
  const std::string temporary = path + ".tmp";
  {
    std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
    stream.write(reinterpret_cast<const char *>(out.data()), std::streamsize(out.size()));
    stream.flush();
    if (!stream) return Status::error(path + ": cannot write the session file");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return Status::error(path + ": " + ec.message());
  return Status();
}

Expected<SessionFile> read_session_file(const std::string & path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return Status::error(path + ": cannot open the session file");
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  if (data.size() < 8 + 8 || std::memcmp(data.data(), kMagic, 8) != 0)
    return Status::error(path + ": not an m1 session file (expected the M1SESSN1 header)");
  std::uint64_t stored_checksum = 0;
  for (int i = 0; i < 8; ++i) stored_checksum |= std::uint64_t(data[data.size() - 8 + size_t(i)]) << (8 * i);
  data.resize(data.size() - 8);
  if (checksum64(data) != stored_checksum) return Status::error(path + ": checksum mismatch (truncated or damaged)");
  Reader r{data, 8};
  SessionFile file;
  file.vocab_size = r.u64();
  const std::uint64_t n_tokens = r.u64();
  if (!r.overrun && n_tokens <= (data.size() - r.at) / sizeof(Token)) {
    file.tokens.resize(n_tokens);
    r.bytes(file.tokens.data(), n_tokens * sizeof(Token));
  } else {
    r.overrun = true;
  }
  const std::uint64_t n_state = r.u64();
  if (!r.overrun && n_state <= data.size() - r.at) {
    file.state.resize(n_state);
    r.bytes(file.state.data(), n_state);
  } else {
    r.overrun = true;
  }
  if (r.overrun || r.at != data.size()) return Status::error(path + ": malformed session file (sizes do not add up)");
  return file;
}

}  // namespace m1
