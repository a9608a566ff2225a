// UTF-8 repair and Unicode normalization against Python's unicodedata and codecs (values written
// out from python3: unicodedata.normalize / bytes.decode("utf-8", "replace")).
#include <gtest/gtest.h>

#include "model/unicode_normalize.h"
#include "model/unicode_utf8.h"

namespace m1 {
namespace {

TEST(Utf8, ReplacesMaximalSubpartsLikePython) {
  // b"\xe2\x82 \xf0\x9f\x98\xed\xa0\x80\xc0\xaf\xff".decode("utf-8", "replace")
  EXPECT_EQ(
      utf8::replace_invalid("\xe2\x82 \xf0\x9f\x98\xed\xa0\x80\xc0\xaf\xff"),
      "\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8::replace_invalid("ok \xe2\x82\xac"), "ok \xe2\x82\xac");
}

TEST(Utf8, IncompleteTailIsHeldOnlyWhenItCanStillComplete) {
  EXPECT_EQ(utf8::incomplete_tail_length("ab\xe4\xb8"), 2u);
  EXPECT_EQ(utf8::incomplete_tail_length("ab\xf0"), 1u);
  EXPECT_EQ(utf8::incomplete_tail_length("ab\xe4\xb8\xad"), 0u);
  EXPECT_EQ(utf8::incomplete_tail_length("ab\xff"), 0u);
  EXPECT_EQ(utf8::incomplete_tail_length("\xed\xa0"), 0u);  // ED A0 (a surrogate) never completes
}

TEST(UnicodeNormalize, MatchesPythonUnicodedata) {
  // unicodedata.normalize(form, "Cafe\u0301 \u1e9b\u0323 \ufb01 \u2460 \uac00\u11a8 A\u030a\u0327 \u212b")
  const std::string input =
      "Cafe\xcc\x81 \xe1\xba\x9b\xcc\xa3 \xef\xac\x81 \xe2\x91\xa0 \xea\xb0\x80\xe1\x86\xa8 "
      "A\xcc\x8a\xcc\xa7 \xe2\x84\xab";
  EXPECT_EQ(
      normalize(input, NormalForm::nfc),
      "Caf\xc3\xa9 \xe1\xba\x9b\xcc\xa3 \xef\xac\x81 \xe2\x91\xa0 \xea\xb0\x81 \xc3\x85\xcc\xa7 \xc3\x85");
  EXPECT_EQ(normalize(input, NormalForm::nfkc),
            "Caf\xc3\xa9 \xe1\xb9\xa9 fi 1 \xea\xb0\x81 \xc3\x85\xcc\xa7 \xc3\x85");
  EXPECT_EQ(normalize(input, NormalForm::nfd),
            "Cafe\xcc\x81 \xc5\xbf\xcc\xa3\xcc\x87 \xef\xac\x81 \xe2\x91\xa0 "
            "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 A\xcc\xa7\xcc\x8a A\xcc\x8a");
  EXPECT_EQ(
      normalize(input, NormalForm::nfkd),
      "Cafe\xcc\x81 s\xcc\xa3\xcc\x87 fi 1 \xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 A\xcc\xa7\xcc\x8a A\xcc\x8a");
  EXPECT_EQ(normalize("plain ascii", NormalForm::nfkc), "plain ascii");
}

}  // namespace
}  // namespace m1
