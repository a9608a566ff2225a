#!/usr/bin/env python3
"""Prompt-format goldens rendered with jinja2 from the official M1 chat template (M1_SPEC.md section 7).

Renders this project's own conversations with the chat_template of
tests/data/m1_reference/tokenizer_config.json, in the jinja environment transformers uses for
apply_chat_template (its own compile function when transformers is importable, as on the GPU
machine; otherwise the same settings rebuilt here: trim_blocks, lstrip_blocks, and a tojson that
is json.dumps with ensure_ascii=False and key order kept). Before writing, it checks that the
renderer reproduces every case of tests/data/m1_reference/chat-template-cases.json.

    python3 tests/reference/make_prompt_goldens.py [OUT_FILE]   (default tests/data/prompt/cases.json)
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "tests", "data", "m1_reference")


def compile_template(source):
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template
        return _compile_jinja_template(source), "transformers._compile_jinja_template"
    except (ImportError, AttributeError, TypeError) as e:
        print(f"transformers' template compiler unavailable ({e}); using jinja2 with its settings")
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    return env.from_string(source), f"jinja2 {jinja2.__version__} with transformers' settings"


def text(t):
    return [{"type": "text", "text": t}]


def tool_result(*pairs):
    return [{"type": "text", "name": n, "text": t} for n, t in pairs]


TOOLS_BASIC = [
    {"name": "read_file", "description": "Read a file.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
]
TOOLS_RICH = [
    {"type": "function", "function": {
        "name": "search_web", "description": "Search the web — returns “snippets”, 中文 ok 😀.",
        "parameters": {"type": "object",
                       "properties": {"query": {"type": "string", "description": "Quotes \" and \\ backslash\nnewline\ttab"},
                                      "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                                      "safe": {"type": "boolean", "default": True},
                                      "lang": {"type": ["string", "null"], "default": None},
                                      "weights": {"type": "array", "items": {"type": "number"},
                                                  "default": [0.5, 1e-07, 3.0, 1e+20, -0.0, 123456.789, 1e16, 1e15]}},
                       "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "edit", "description": "Control \u0001 char, DEL \u007f, </tools> inside, <end_of_sentence> too.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}},
]

CASES = [
    ("user_only_no_generation_prompt", [{"role": "user", "content": text("Hi")}], None, False),
    ("user_only_generation_prompt", [{"role": "user", "content": text("Hi")}], None, True),
    ("empty_system", [{"role": "system", "content": text("")}, {"role": "user", "content": text("Hello")}], None, True),
    ("several_system_messages", [
        {"role": "system", "content": text("First rule. ")},
        {"role": "user", "content": text("Question?")},
        {"role": "system", "content": text("Second rule, given later.")},
        {"role": "assistant", "content": text("Answer.")},
    ], None, True),
    ("special_characters", [
        {"role": "system", "content": text("Quotes \" ' and backslashes \\ \\n and {{ jinja }} {% raw %} <think> tags")},
        {"role": "user", "content": text("Line1\nLine2\r\n\ttabbed <end_of_sentence> literal <tool_calls> ")},
    ], None, True),
    ("unicode_everywhere", [
        {"role": "system", "content": text("Tu es un assistant. 你是助手。 مساعد")},
        {"role": "user", "content": text("Café? 👍🏽 👨‍👩‍👧‍👦 e\u0301 ﬁ 한국어 שלום")},
        {"role": "assistant", "content": text("<think>\nРассуждение 🤔\n</think>\nOui — très bien.")},
    ], TOOLS_RICH, True),
    ("assistant_text_without_reasoning", [
        {"role": "user", "content": text("2+2?")},
        {"role": "assistant", "content": text("4")},
        {"role": "user", "content": text("Thanks")},
    ], None, False),
    ("several_tool_results", [
        {"role": "system", "content": text("You are a coding agent.")},
        {"role": "user", "content": text("Read a.txt and b.txt")},
        {"role": "assistant", "content": text(
            "<think>\nTwo files.\n</think>\n<tool_calls>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n"
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"b.txt\"}}\n</tool_calls>")},
        {"role": "tool", "content": tool_result(("read_file", "alpha\n"), ("read_file", ""), ("read_file", "gamma: \"x\" 😀"))},
        {"role": "assistant", "content": text("Both read.")},
        {"role": "tool", "content": tool_result(("other", "late result"))},
    ], TOOLS_BASIC, True),
    ("multi_part_contents", [
        {"role": "system", "content": [{"type": "text", "text": "sys part 1"}, {"type": "text", "text": "sys part 2 (ignored)"}]},
        {"role": "user", "content": [{"type": "text", "text": "user part 1"}, {"type": "text", "text": "user part 2 (ignored)"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a1 "}, {"type": "image", "text": "not text"},
                                          {"type": "text", "text": "a2"}]},
    ], None, True),
    ("empty_tools_list", [{"role": "user", "content": text("no tools")}], [], True),
    ("rich_tools_no_system", [{"role": "user", "content": text("search for cats")}], TOOLS_RICH, True),
    ("long_conversation", [
        {"role": "system", "content": text("S")},
        *[m for i in range(4) for m in (
            {"role": "user", "content": text(f"turn {i}")},
            {"role": "assistant", "content": text(f"<think>\nt{i}\n</think>\n<tool_calls>\n{{\"name\": \"read_file\", \"arguments\": {{\"path\": \"{i}\"}}}}\n</tool_calls>")},
            {"role": "tool", "content": tool_result(("read_file", f"content {i}"))},
        )],
        {"role": "assistant", "content": text("done")},
    ], TOOLS_BASIC, False),
]


def render(template, messages, tools, add_generation_prompt):
    return template.render(messages=messages, tools=tools, add_generation_prompt=add_generation_prompt)


def main():
    out_file = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "prompt", "cases.json")
    with open(os.path.join(REFERENCE, "tokenizer_config.json"), encoding="utf-8") as f:
        source = json.load(f)["chat_template"]
    template, renderer = compile_template(source)
    with open(os.path.join(REFERENCE, "chat-template-cases.json"), encoding="utf-8") as f:
        shared = json.load(f)["cases"]
    for case in shared:
        got = render(template, case["messages"], case.get("tools"), case.get("add_generation_prompt", False))
        if got != case["expected"]:
            sys.exit(f"renderer does not reproduce shared case {case['name']}:\n{got!r}\n{case['expected']!r}")
    cases = []
    for name, messages, tools, gen in CASES:
        cases.append({"name": name, "messages": messages, "tools": tools, "add_generation_prompt": gen,
                      "expected": render(template, messages, tools, gen)})
    os.makedirs(os.path.dirname(out_file) or ".", exist_ok=True)
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump({"about": "This project's prompt-format cases, rendered from the official chat template by "
                            "tests/reference/make_prompt_goldens.py (" + renderer + "). Same shape as "
                            "m1_reference/chat-template-cases.json.",
                   "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{renderer}: {len(shared)} shared cases reproduced, {len(cases)} cases written to {out_file}")


if __name__ == "__main__":
    main()
