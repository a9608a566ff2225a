#!/usr/bin/env python3
"""Tokenizer goldens from the HF `tokenizers` library (M1_SPEC.md section 6, TESTING.md).

Trains small byte-level BPE tokenizers on a corpus this script builds deterministically, and records
the library's ids and decoded text for a corpus of hard cases. The C++ tokenizer (model/tokenizer*)
must reproduce every id. Run on the GPU machine (tokenizers 0.23 is installed there, not here):

    python3 tests/reference/make_tokenizer_goldens.py OUT_DIR

and copy OUT_DIR/* into tests/data/tokenizer/. Written there:
  gpt2.tokenizer.json      GPT-2 regex (ByteLevel pre-tokenizer with use_regex), ByteLevel decoder
  gpt2.vocab.json + gpt2.merges.txt   the same model as the vocab/merges pair
  gpt4o.tokenizer.json     NFC + Split with a GPT-4o-style regex + ByteLevel(use_regex=false),
                           an added normalized non-special token and an lstrip special token
  fallback.tokenizer.json  NFKC + Replace, two Split pre-tokenizers (isolated, merged_with_previous),
                           BPE with byte_fallback and ignore_merges, ByteFallback + Fuse decoder
  cases.json               the hard cases, and per tokenizer (plus "gpt2_prefix": gpt2 with
                           add_prefix_space=true) the ids, the decoded text, and decodes of random ids
Regenerating is reproducible: every random choice uses a fixed seed.
"""
import json
import os
import random
import sys
import time

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SPECIALS = ["<beginning_of_sentence>", "<end_of_sentence>", "<end_of_document>", "<begin_of_document>"]

GPT4O_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
FALLBACK_PATTERN = r" ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+"

WORDS = {
    "en": "the of and to in is that it for was on are with as his they be at one have this from or had by "
          "word but what some we can out other were all there when up use your how said an each she which do "
          "their time if will way about many then them write would like so these her long make thing see him "
          "two has look more day could go come did number sound no most people my over know water than call "
          "first who may down side been now find don't I'm we'll they've you're it's Hello World OpenAI GPU".split(),
    "de": "über schön Straße groß Mädchen Äpfel Öl Übung weiß heißen Grüße".split(),
    "fr": "café naïve façade élève où déjà garçon hôtel forêt Noël".split(),
    "ru": "привет мир как дела хорошо спасибо Москва язык программа данные".split(),
    "el": "γειά σου κόσμε λόγος ἀρχή Ἀθῆναι".split(),
    "zh": "你好 世界 中文 分词 测试 模型 数据 人工智能 北京 上海 谢谢".split(),
    "ja": "こんにちは 世界 カタカナ ひらがな 東京 日本語 テスト".split(),
    "ko": "안녕하세요 세계 한국어 테스트 서울".split(),
    "ar": "مرحبا بالعالم اللغة العربية كتاب مدرسة".split(),
    "he": "שלום עולם עברית ספר".split(),
    "hi": "नमस्ते दुनिया हिन्दी भाषा".split(),
    "th": "สวัสดี ภาษาไทย".split(),
    "emoji": "😀 🎉 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨ 🤖 🧪".split(),
}
CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "if x == 1 and y != 2:\n        print(\"ok\")\r\n",
    "const s = `template ${value}`; // comment\n",
    "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n",
    "SELECT id, name FROM users WHERE age >= 18;\n",
    "#include <vector>\nint main() { return 0; }\n",
]


def training_corpus(seed=1234, n_lines=6000):
    """Mixed-script lines, code and numbers; deterministic."""
    rng = random.Random(seed)
    langs = list(WORDS)
    lines = []
    for i in range(n_lines):
        kind = rng.random()
        if kind < 0.15:
            lines.append(rng.choice(CODE))
            continue
        lang = rng.choice(langs) if rng.random() < 0.5 else "en"
        n = rng.randint(3, 14)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.08:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
            elif r < 0.12:
                parts.append(rng.choice(",.;:!?()-'\"/"))
            else:
                parts.append(rng.choice(WORDS[lang]))
        sep = "" if lang in ("zh", "ja") and rng.random() < 0.5 else " "
        lines.append(sep.join(parts) + rng.choice([".", "!", "?", "", "\n", "  ", "\t"]))
    return lines


HARD_CASES = [
    ("empty", ""),
    ("space", " "),
    ("ascii_sentence", "Hello, world! This is a test of the tokenizer."),
    ("contractions", "I'm sure they've said it's what we'll do, don't you think? IT'S HE'LL"),
    ("numbers", "3.14159 1234567890 1,000,000 -42 +7 1e-10 0x1F 2024-01-31 12:30:45"),
    ("long_digits", "12345678901234567890123456789"),
    ("emoji", "I love 🍕 and 🎉! 👍🏽👨‍👩‍👧‍👦 🇫🇷🇩🇪 ❤️ ✨🤖"),
    ("combining_nfd", "Cafe\u0301 nai\u0308ve e\u0301le\u0300ve A\u030a \u1e9b\u0323"),
    ("precomposed", "Café naïve élève Å"),
    ("compat_chars", "ﬁle ﬂow Ⅻ ① ｆｕｌｌｗｉｄｔｈ ＡＢＣ ㎞ ½ x² ™ …"),
    ("hangul_jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af 한글 \uac00\u11a8"),
    ("cjk", "你好，世界！中文分词测试。日本語のテキスト、カタカナ。한국어 텍스트입니다."),
    ("rtl_arabic", "مرحبا بالعالم! هذا اختبار 123."),
    ("rtl_hebrew_mixed", "שלום world עולם 42 \u200fRTL mark\u200e LTR"),
    ("mixed_scripts", "Москва is Moscow; Αθήνα is Athens; 東京 is Tokyo; नमस्ते; สวัสดี"),
    ("long_spaces", "a" + " " * 37 + "b" + " " * 5 + "\n" + " " * 12 + "c"),
    ("trailing_spaces", "end with spaces   "),
    ("leading_spaces", "    indented line"),
    ("tabs_crlf", "col1\tcol2\t\tcol3\r\nline2\r\n\r\n\tindented\r\n"),
    ("newlines", "\n\n\nthree newlines then text\n\n"),
    ("unicode_spaces", "nbsp\u00a0here thin\u2009space ideographic\u3000space em\u2003space zwsp\u200bhere mvs\u180ehere nel\x85here"),
    ("python_code", "def main():\n    x = [i ** 2 for i in range(10)]\n    print(f\"{x!r}\")  # comment\n\n\treturn None\n"),
    ("cpp_code", "template <typename T>\nstd::vector<T> f(const T & x) {\n  return {x, x};\n}\n"),
    ("json", "{\"name\": \"search_web\", \"arguments\": {\"query\": \"caf\\u00e9 \\\"quoted\\\"\"}}"),
    ("punctuation_runs", "Wait... what?!?! ---- ==== **bold** __init__ <<<>>> ((()))"),
    ("special_tokens_inside", "<begin_of_document><beginning_of_sentence>user name=user\nHi<end_of_sentence>\n"),
    ("special_tokens_glued", "a<end_of_sentence>b <end_of_sentence> c<end_of_sentence><end_of_sentence>"),
    ("special_token_partial", "<end_of_sentence <end_of_sentenc> <beginning_of_sentence"),
    ("think_tags_plain", "<think>\nreasoning\n</think>\nanswer <tool_calls>\n{}\n</tool_calls>"),
    ("added_tokens", "use <|tool|> here and [MASK] there,  [MASK]x<|tool|><|tool|>"),
    ("apostrophes_unicode", "it’s ‘quoted’ “double” l'été"),
    ("zero_width_joiners", "a\u200db\u200cc\ufeffd"),
    ("private_use", "\ue000\uf8ff \U000f0000"),
    ("astral", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𓀀 𠜎𠜱"),
    ("control_chars", "bell\x07 esc\x1b[0m nul\x00 del\x7f"),
    ("replacement_char", "bad \ufffd byte"),
    ("uppercase", "HELLO WORLD THIS IS LOUD"),
    ("mixed_case_words", "camelCaseWord PascalCase snake_case SCREAMING_CASE iPhone McDonald's"),
    ("url_path", "https://example.com/a/b?c=d&e=f#g /usr/local/bin\\windows\\path"),
    ("long_word", "supercalifragilisticexpialidocious" * 6),
    ("repeated_chars", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ____________ !!!!!!!!!!!!"),
]

# Byte strings that are not valid UTF-8: the library takes str, so (as transformers and every
# Python caller do) they are decoded with errors="replace" first; the C++ encoder must do the same.
INVALID_UTF8 = [
    ("lone_continuation", b"abc\x80def"),
    ("truncated_3byte", b"caf\xe4\xb8 end"),
    ("truncated_at_end", b"end \xf0\x9f\x98"),
    ("overlong", b"over\xc0\xaflong"),
    ("surrogate_encoded", b"sur\xed\xa0\x80rogate"),
    ("invalid_bytes", b"\xff\xfe text \xfe"),
    ("mixed_invalid", b"ok \xe2\x82 \xe2\x82\xac \xf4\x90\x80\x80 fin"),
]

FUZZ_ALPHABET = list("abcXYZ019 \t\n\r.,'!<>/") + [
    "\u0301", "\u0308", "é", "ß", "ﬁ", "①", "你", "好", "世", "ア", "한", "\u1100", "\u1161", "م", "ש",
    "😀", "👍", "\U0001f3fd", "\u200d", "\u00a0", "\u3000", "\u2009", "\x85", "\u180e", "𝔘", "Ⅻ", "½", "’", "\ufeff",
    "<end_of_sentence>", "<|tool|>", "[MASK]", "  ", "\r\n",
]


def fuzz_cases(seed=99, n=120):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(1, 40)
        out.append((f"fuzz_{i:03d}", "".join(rng.choice(FUZZ_ALPHABET) for _ in range(k))))
    return out


def train_gpt2(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    return tok


def train_gpt4o(lines):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4O_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    tok.add_tokens([AddedToken("<|tool|>", special=False, normalized=True)])
    tok.add_special_tokens([AddedToken("[MASK]", special=True, lstrip=True, normalized=False)])
    return tok


def train_fallback(lines):
    tok = Tokenizer(models.BPE(unk_token="<end_of_document>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("\r\n", "\n")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(FALLBACK_PATTERN), behavior="isolated"),
        pre_tokenizers.Split(Regex(r"[.,;:!?]"), behavior="merged_with_previous"),
    ])
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, limit_alphabet=120,
                                  special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    # Byte-fallback tokens <0x00>..<0xFF> as in Llama-style vocabularies: plain vocabulary entries.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    for b in range(256):
        name = f"<0x{b:02X}>"
        if name not in vocab:
            vocab[name] = next_id
            next_id += 1
    spec["model"]["byte_fallback"] = True
    spec["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def with_prefix_space(tok):
    spec = json.loads(tok.to_str())
    spec["pre_tokenizer"]["add_prefix_space"] = True
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def random_id_lists(tok, seed, n=60):
    rng = random.Random(seed)
    size = tok.get_vocab_size(with_added_tokens=True)
    special_ids = [tok.token_to_id(s) for s in SPECIALS]
    out = []
    for _ in range(n):
        ids = []
        for _ in range(rng.randint(1, 14)):
            ids.append(rng.choice(special_ids) if rng.random() < 0.1 else rng.randrange(size))
        out.append(ids)
    return out


def goldens_for(tok, cases, seed):
    ids = [tok.encode(text, add_special_tokens=False).ids for _, text in cases]
    decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
    random_ids = random_id_lists(tok, seed)
    return {
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "ids": ids,
        "decoded": decoded,
        "random_ids": random_ids,
        "random_decoded": [tok.decode(i, skip_special_tokens=False) for i in random_ids],
        "random_decoded_skip_special": [tok.decode(i, skip_special_tokens=True) for i in random_ids],
    }


def benchmark(tok, lines, out_log):
    rng = random.Random(7)
    text = "".join(rng.choice(lines) for _ in range(200000))
    tok.encode(text[:100000], add_special_tokens=False)
    start = time.perf_counter()
    n_ids = len(tok.encode(text, add_special_tokens=False).ids)
    seconds = time.perf_counter() - start
    mb = len(text.encode("utf-8")) / 1e6
    out_log.write(f"bench one encode() of {mb:.1f} MB: {seconds:.3f} s, {mb / seconds:.2f} MB/s, {n_ids} ids\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tokenizer_goldens"
    os.makedirs(out, exist_ok=True)
    import tokenizers
    lines = training_corpus()
    cases = [(n, t) for n, t in HARD_CASES]
    cases += [(n, b.decode("utf-8", errors="replace")) for n, b in INVALID_UTF8]
    cases += fuzz_cases()
    tokenizers_built = {
        "gpt2": train_gpt2(lines),
        "gpt4o": train_gpt4o(lines),
        "fallback": train_fallback(lines),
    }
    tokenizers_built["gpt2_prefix"] = with_prefix_space(tokenizers_built["gpt2"])
    for name in ("gpt2", "gpt4o", "fallback"):
        tokenizers_built[name].save(os.path.join(out, f"{name}.tokenizer.json"), pretty=False)
    tokenizers_built["gpt2"].model.save(out, "gpt2")  # gpt2-vocab.json, gpt2-merges.txt
    os.replace(os.path.join(out, "gpt2-vocab.json"), os.path.join(out, "gpt2.vocab.json"))
    os.replace(os.path.join(out, "gpt2-merges.txt"), os.path.join(out, "gpt2.merges.txt"))

    golden = {
        "about": "Hard cases and the ids / decoded text the HF tokenizers library gives for them "
                 "(encode with add_special_tokens=False). Cases named in invalid_utf8 were given to "
                 "the library as bytes.decode('utf-8', errors='replace'); bytes_hex holds the raw bytes. "
                 "Made by tests/reference/make_tokenizer_goldens.py.",
        "tokenizers_version": tokenizers.__version__,
        "cases": [{"name": n, "text": t} for n, t in cases],
        "invalid_utf8": {n: b.hex() for n, b in INVALID_UTF8},
        "tokenizers": {},
    }
    for seed, (name, tok) in enumerate(sorted(tokenizers_built.items())):
        golden["tokenizers"][name] = goldens_for(tok, cases, 1000 + seed)
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(out, "tokenizer_log.txt"), "w") as log:
        log.write(f"tokenizers {tokenizers.__version__}\n")
        for name, tok in tokenizers_built.items():
            log.write(f"{name}: vocab {tok.get_vocab_size(with_added_tokens=True)}\n")
        benchmark(tokenizers_built["gpt4o"], lines, log)
    print("wrote", out)


if __name__ == "__main__":
    main()
