// The file a saved session lives in: its tokens and the exact bytes of its memory, so that a
// loaded session continues bit-identically, in this process or after a restart.
//
// Layout (little-endian): "M1SESSN1", u64 vocab_size, u64 n_tokens, i32 tokens[n_tokens],
// u64 state_bytes, u8 state[state_bytes], u64 checksum of everything before it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/token.h"

namespace m1 {

struct SessionFile {
  std::uint64_t vocab_size = 0;
  std::vector<Token> tokens;
  std::vector<std::uint8_t> state;
};

Status write_session_file(const std::string & path, const SessionFile & file);
Expected<SessionFile> read_session_file(const std::string & path);

}  // namespace m1
