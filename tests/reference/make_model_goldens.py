#!/usr/bin/env python3
"""Goldens for the M1 network on the CPU: tiny random MiniMax-M1 models and their logits.

What it writes (under --out, normally tests/data/model/):
  fixtures.json                  the list of fixtures, how each reference was made, its margins
  <fixture>/config.json          original dialect (minimax_m1) or transformers dialect (minimax)
  <fixture>/*.safetensors        single file, or shards + model.safetensors.index.json
  <fixture>/tokens_<k>.txt       whitespace-separated token ids of sequence k
  <fixture>/logits_<k>.f32       float32 little-endian [n_tokens x vocab]: the reference logits
  <fixture>/router_gaps_<k>.f32  float32 [n_tokens]: per position the smallest float64 router-logit
                                 gap between the k-th and (k+1)-th expert over the layers (the GPU
                                 tests report apart the positions whose routing bf16 compute may
                                 not decide)

How the reference is made (M1_SPEC.md section 5):
  * Weights are drawn in float32 from a fixed seed, rounded to the storage dtype (bf16 or fp16;
    the MoE routers stay fp32 as in the real checkpoint) and written to the checkpoint; the
    reference runs on exactly those rounded values upcast to float64, so the only difference
    left between the C++ engine and the reference is compute precision.
  * transformers' MiniMaxForCausalLM (>= 5) runs in float64 on the CPU with these fixes:
      - RoPE: inverse frequencies over rotary_dim (not head_dim), only the first rotary_dim dims
        of each head rotated (NeoX pairing), angles computed in float64;
      - lightning decay: the ORIGINAL formula s = 2^(-8(h+1)/H) * (1 - l/(L-1) + 1e-5)
        (transformers divides by L-1+1e-5; the original wins), decay tables rebuilt in float64;
      - experts: an eager per-expert loop (the default grouped GEMM rejects float64);
      - router: softmax in float64 (transformers casts it to fp32; the reference is all fp64);
      - RMSNorm: computed in float64 (transformers always computes it in fp32);
      - attention: eager implementation; decode steps pass explicit position_ids and
        cache_position (its cache reports length 0 after a prefill).
  * The stored logits are those of one single-pass prefill. The script also runs a prefill of
    the first half followed by one-token decode steps, and an independent float64 numpy
    implementation of the original math with the token-by-token lightning recurrence; all three
    must agree (relative error per position < AGREEMENT) or the script exits non-zero.
  * Token sequences are re-drawn (deterministically) until every top-k routing decision and every
    argmax has a margin that fp32 compute cannot flip, and for the fixtures marked
    bf16_safe_routing every routing decision one that bf16 compute cannot flip either
    (MIN_ROUTER_GAP_BF16).

Run on the GPU machine (transformers >= 5, torch, numpy; CPU compute, takes about a minute):
    python3 tests/reference/make_model_goldens.py --out tests/data/model
Without torch (here): `--oracle-only` writes the same checkpoints with logits from the numpy
implementation alone, marked as such in fixtures.json; use it only to develop against.
Everything is deterministic: same seeds, same files.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

# ----------------------------------------------------------------------------------------------
# Fixtures: each varies what a bug could hide behind (head counts, GQA ratio, rotary_dim < head_dim,
# head_dim * heads != hidden, block sizes that do not divide the length, lengths over two blocks,
# both dialects, bf16/fp16 storage with an fp32 router, sharded and single-file).
M1_ALPHA = 3.5565588200778455  # (2*80)^(1/4), the real M1 value

FIXTURES = [
    dict(name="hf_gqa_partial_rotary", dialect="minimax", arch="MiniMaxForCausalLM",
         storage="bf16", shards=1, vocab=256, hidden=64, heads=4, head_dim=32, kv_heads=2,
         rotary_dim=16, kinds=[0, 0, 0, 1], experts=4, top_k=2, ffn=32, block=16,
         theta=10000.0, eps=1e-5, lin=(1.9, 0.8), full=(2.6, 1.1), mlp=(M1_ALPHA, 1.0),
         lengths=[45, 20], seed=11, bf16_safe_routing=True),
    dict(name="orig_three_shards_long", dialect="minimax_m1", arch="MiniMaxM1ForCausalLM",
         storage="bf16", shards=3, vocab=160, hidden=48, heads=6, head_dim=8, kv_heads=2,
         rotary_dim=4, kinds=[0, 0, 0, 1], experts=3, top_k=2, ffn=24, block=256,
         theta=1e7, eps=1e-5, lin=(M1_ALPHA, 1.0), full=(M1_ALPHA, 1.0), mlp=(M1_ALPHA, 1.0),
         lengths=[530, 7], seed=22),
    dict(name="hf_mha_fp16_two_shards", dialect="minimax", arch="MiniMaxForCausalLM",
         storage="fp16", shards=2, vocab=100, hidden=32, heads=2, head_dim=16, kv_heads=2,
         rotary_dim=16, kinds=[0, 1], experts=2, top_k=1, ffn=24, block=5,
         theta=1e6, eps=1e-5, lin=(1.5, 1.0), full=(1.2, 0.7), mlp=(1.3, 0.9),
         lengths=[23, 11], seed=33, bf16_safe_routing=True),
    dict(name="orig_text01_mqa_single", dialect="minimax_m1", arch="MiniMaxText01ForCausalLM",
         storage="bf16", shards=1, vocab=256, hidden=64, heads=8, head_dim=8, kv_heads=1,
         rotary_dim=4, kinds=[0, 1, 0, 1], experts=8, top_k=2, ffn=16, block=256,
         theta=1e7, eps=1e-6, lin=(2.2, 1.0), full=(1.7, 1.3), mlp=(2.9, 0.6),
         lengths=[70, 3], seed=44),
]

LIGHTNING_NORM_EPS = 1e-6  # M1_SPEC.md section 4: the norm inside lightning attention
# transformers 5.17's eager attention takes its softmax in fp32 (softmax(..., dtype=torch.float32))
# even for float64 inputs; that leaves up to ~7e-8 relative difference to the numpy float64
# implementation (measured on the fixtures below: 1.2e-8 .. 6.8e-8), 1000x under the 1e-4 the C++
# tests allow. Every other fp32 step of transformers is patched to float64 (see the docstring).
AGREEMENT = 2e-7           # relative per position, transformers vs numpy and decode vs prefill
MIN_ROUTER_MARGIN = 1e-5   # fp32 router probabilities are good to ~1e-7
MIN_ARGMAX_MARGIN = 1e-5   # relative to the row norm; fp32 logits are good to ~1e-6
# Router-logit gap (k-th vs (k+1)-th expert, every position and layer) for fixtures marked
# bf16_safe_routing: bf16 GEMM inputs move a gap by 4e-3 to 1e-2 at a typical position
# (gpu_precision_model.py) and fp16 -> bf16 weight rounding moves hf_mha_fp16_two_shards' by up to
# 1e-2, so a gap under ~1e-2 is one a bf16 engine may decide the other way (a different expert, a
# row 5-35% off). Only the short sequences can be drawn with it: 7-77% of draws qualify there,
# none of 3 draws of orig_three_shards_long's 530 tokens (20 positions under 2e-2 per draw) nor of
# 30 of orig_text01_mqa_single's 70 (5 per draw); their positions under the GPU tests' threshold
# (2 of the 709) are reported apart there (tests/model/gpu_model_test.cpp).
MIN_ROUTER_GAP_BF16 = 3e-2


# ----------------------------------------------------------------------------------------------
# Weights (transformers names; the original names are derived when writing the checkpoint).

def parameter_shapes(fx):
    D, H, d, Hkv, E, F, V = (fx["hidden"], fx["heads"], fx["head_dim"], fx["kv_heads"],
                             fx["experts"], fx["ffn"], fx["vocab"])
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,),
              "lm_head.weight": (V, D)}
    for l, kind in enumerate(fx["kinds"]):
        p = f"model.layers.{l}."
        shapes[p + "input_layernorm.weight"] = (D,)
        shapes[p + "post_attention_layernorm.weight"] = (D,)
        if kind == 0:
            shapes[p + "self_attn.qkv_proj.weight"] = (3 * H * d, D)
            shapes[p + "self_attn.output_gate.weight"] = (H * d, D)
            shapes[p + "self_attn.norm.weight"] = (H * d,)
            shapes[p + "self_attn.out_proj.weight"] = (D, H * d)
        else:
            shapes[p + "self_attn.q_proj.weight"] = (H * d, D)
            shapes[p + "self_attn.k_proj.weight"] = (Hkv * d, D)
            shapes[p + "self_attn.v_proj.weight"] = (Hkv * d, D)
            shapes[p + "self_attn.o_proj.weight"] = (D, H * d)
        shapes[p + "mlp.gate.weight"] = (E, D)
        shapes[p + "mlp.experts.gate_up_proj"] = (E, 2 * F, D)
        shapes[p + "mlp.experts.down_proj"] = (E, D, F)
    return shapes


def round_bf16(x32):
    """float32 -> bf16 bits, round to nearest even (as torch does)."""
    bits = x32.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def make_weights(fx):
    """Returns {name: (stored_dtype, stored_array, float64 value of the stored array)}."""
    rng = np.random.default_rng(fx["seed"])
    weights = {}
    for name, shape in sorted(parameter_shapes(fx).items()):
        z = rng.standard_normal(shape).astype(np.float32)
        if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            x = 1.0 + 0.2 * z  # norms near 1 but not 1, so a missing weight shows
        elif name == "model.embed_tokens.weight":
            x = z
        elif name.endswith("mlp.gate.weight"):
            x = 2.0 * z / math.sqrt(shape[-1])  # decisive routing
        else:
            x = z / math.sqrt(shape[-1])  # fan-in scaling keeps activations O(1)
        x = x.astype(np.float32)
        if name.endswith("mlp.gate.weight") or fx["storage"] == "fp32":
            weights[name] = ("F32", x, x.astype(np.float64))
        elif fx["storage"] == "bf16":
            bits = round_bf16(x)
            weights[name] = ("BF16", bits, bf16_to_f32(bits).astype(np.float64))
        elif fx["storage"] == "fp16":
            h = x.astype(np.float16)
            weights[name] = ("F16", h, h.astype(np.float64))
        else:
            raise ValueError(fx["storage"])
    return weights


def checkpoint_tensors(fx, weights):
    """Tensors as the checkpoint of fx's dialect names them: {name: (dtype, array)}."""
    if fx["dialect"] == "minimax":
        return {name: (dt, arr) for name, (dt, arr, _) in weights.items()}
    F = fx["ffn"]
    out = {}
    for name, (dt, arr, _) in weights.items():
        if ".mlp.experts.gate_up_proj" in name:
            base = name.replace(".mlp.experts.gate_up_proj", ".block_sparse_moe.experts.")
            for e in range(fx["experts"]):
                out[f"{base}{e}.w1.weight"] = (dt, np.ascontiguousarray(arr[e, :F]))
                out[f"{base}{e}.w3.weight"] = (dt, np.ascontiguousarray(arr[e, F:]))
        elif ".mlp.experts.down_proj" in name:
            base = name.replace(".mlp.experts.down_proj", ".block_sparse_moe.experts.")
            for e in range(fx["experts"]):
                out[f"{base}{e}.w2.weight"] = (dt, np.ascontiguousarray(arr[e]))
        else:
            out[name.replace(".mlp.gate.", ".block_sparse_moe.gate.")] = (dt, arr)
    return out


# ----------------------------------------------------------------------------------------------
# Checkpoint writing: safetensors by hand (8-byte header length, JSON header, raw little-endian
# data), so this part runs without torch.

def safetensors_bytes(tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        dt, arr = tensors[name]
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write_checkpoint(fx, tensors, folder):
    names = sorted(tensors)
    if fx["shards"] == 1:
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(safetensors_bytes(tensors))
        return
    n = fx["shards"]
    weight_map, total = {}, 0
    for s in range(n):
        file = f"model-{s + 1:05d}-of-{n:05d}.safetensors"
        part = {name: tensors[name] for i, name in enumerate(names) if i % n == s}
        for name, (_, arr) in part.items():
            weight_map[name] = file
            total += arr.nbytes
        with open(os.path.join(folder, file), "wb") as f:
            f.write(safetensors_bytes(part))
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def config_json(fx):
    L = len(fx["kinds"])
    common = {
        "head_dim": fx["head_dim"], "hidden_act": "silu", "hidden_size": fx["hidden"],
        "intermediate_size": fx["ffn"], "max_position_embeddings": 4096,
        "num_attention_heads": fx["heads"], "num_experts_per_tok": fx["top_k"],
        "num_hidden_layers": L, "num_key_value_heads": fx["kv_heads"],
        "num_local_experts": fx["experts"], "rms_norm_eps": fx["eps"],
        "tie_word_embeddings": False, "vocab_size": fx["vocab"], "initializer_range": 0.02,
        "attention_dropout": 0.0, "router_jitter_noise": 0.0, "sliding_window": None,
    }
    if fx["dialect"] == "minimax_m1":  # as the real MiniMax-M1 config.json spells it
        return dict(common, architectures=[fx["arch"]], model_type="minimax_m1",
                    attn_type_list=list(fx["kinds"]), rotary_dim=fx["rotary_dim"],
                    rope_theta=fx["theta"], postnorm=True,
                    layernorm_full_attention_alpha=fx["full"][0],
                    layernorm_full_attention_beta=fx["full"][1],
                    layernorm_linear_attention_alpha=fx["lin"][0],
                    layernorm_linear_attention_beta=fx["lin"][1],
                    layernorm_mlp_alpha=fx["mlp"][0], layernorm_mlp_beta=fx["mlp"][1],
                    shared_intermediate_size=0, shared_moe_mode="sigmoid")
    rope = {"rope_type": "default", "rope_theta": fx["theta"]}
    if fx["rotary_dim"] != fx["head_dim"]:
        rope["partial_rotary_factor"] = fx["rotary_dim"] / fx["head_dim"]
    return dict(common, architectures=[fx["arch"]], model_type="minimax",
                layer_types=["full_attention" if k else "linear_attention" for k in fx["kinds"]],
                block_size=fx["block"], rope_parameters=rope,
                full_attn_alpha_factor=fx["full"][0], full_attn_beta_factor=fx["full"][1],
                linear_attn_alpha_factor=fx["lin"][0], linear_attn_beta_factor=fx["lin"][1],
                mlp_alpha_factor=fx["mlp"][0], mlp_beta_factor=fx["mlp"][1])


# ----------------------------------------------------------------------------------------------
# Independent float64 implementation of the original math (M1_SPEC.md section 4), with the
# token-by-token lightning recurrence. It also reports routing margins.

def rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def lightning_slopes(fx, l):
    H, L = fx["heads"], len(fx["kinds"])
    depth = l / (L - 1) if L > 1 else 0.0
    return np.array([2.0 ** (-8.0 * (h + 1) / H) * (1.0 - depth + 1e-5) for h in range(H)])


def oracle_lightning(fx, W, p, a):
    n, H, d = a.shape[0], fx["heads"], fx["head_dim"]
    qkv = silu(a @ W[p + "self_attn.qkv_proj.weight"].T).reshape(n, H, 3 * d)
    q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
    lam = np.exp(-lightning_slopes(fx, int(p.split(".")[2])))
    S = np.zeros((H, d, d))
    o = np.zeros((n, H, d))
    for t in range(n):
        S = lam[:, None, None] * S + k[t][:, :, None] * v[t][:, None, :]
        o[t] = np.einsum("hi,hij->hj", q[t], S)
    o = rms(o.reshape(n, H * d), W[p + "self_attn.norm.weight"], LIGHTNING_NORM_EPS)
    gate = 1.0 / (1.0 + np.exp(-(a @ W[p + "self_attn.output_gate.weight"].T)))
    return (gate * o) @ W[p + "self_attn.out_proj.weight"].T


def rope(x, r, theta):
    """x [n, heads, d]; rotates dims [0, r) with the NeoX pairing (j, j + r/2); angles in fp64."""
    n, half = x.shape[0], r // 2
    inv = theta ** (-(2.0 * np.arange(half)) / r)
    ang = np.arange(n)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    y = x.copy()
    x1, x2 = x[..., :half], x[..., half:r]
    y[..., :half] = x1 * c - x2 * s
    y[..., half:r] = x2 * c + x1 * s
    return y


def oracle_softmax_attention(fx, W, p, a):
    n, H, d, Hkv = a.shape[0], fx["heads"], fx["head_dim"], fx["kv_heads"]
    q = rope((a @ W[p + "self_attn.q_proj.weight"].T).reshape(n, H, d), fx["rotary_dim"], fx["theta"])
    k = rope((a @ W[p + "self_attn.k_proj.weight"].T).reshape(n, Hkv, d), fx["rotary_dim"], fx["theta"])
    v = (a @ W[p + "self_attn.v_proj.weight"].T).reshape(n, Hkv, d)
    o = np.zeros((n, H, d))
    group = H // Hkv
    causal = np.tril(np.ones((n, n), dtype=bool))
    for h in range(H):
        scores = q[:, h] @ k[:, h // group].T / math.sqrt(d)
        scores = np.where(causal, scores, -np.inf)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        o[:, h] = (scores / scores.sum(axis=1, keepdims=True)) @ v[:, h // group]
    return o.reshape(n, H * d) @ W[p + "self_attn.o_proj.weight"].T


def oracle_moe(fx, W, p, b, margins, gaps=None):
    """gaps (optional, [n]): lowered to each position's router-logit gap between the k-th and the
    (k+1)-th expert of this layer."""
    F, k = fx["ffn"], fx["top_k"]
    logits = b @ W[p + "mlp.gate.weight"].T
    if gaps is not None and k < fx["experts"]:
        ranked = -np.sort(-logits, axis=1)
        np.minimum(gaps, ranked[:, k - 1] - ranked[:, k], out=gaps)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    out = np.zeros_like(b)
    for t in range(b.shape[0]):
        order = np.argsort(-probs[t], kind="stable")
        if k < fx["experts"]:
            margins.append(probs[t, order[k - 1]] - probs[t, order[k]])
        top = order[:k]
        w = probs[t, top] / probs[t, top].sum()
        for e, we in zip(top, w):
            gu = W[p + "mlp.experts.gate_up_proj"][e] @ b[t]
            out[t] += we * (W[p + "mlp.experts.down_proj"][e] @ (silu(gu[:F]) * gu[F:]))
    return out


def oracle_logits(fx, W, tokens, gaps=None):
    margins = []
    x = W["model.embed_tokens.weight"][np.asarray(tokens)]
    for l, kind in enumerate(fx["kinds"]):
        p = f"model.layers.{l}."
        a = rms(x, W[p + "input_layernorm.weight"], fx["eps"])
        if kind == 0:
            alpha, beta = fx["lin"]
            attn = oracle_lightning(fx, W, p, a)
        else:
            alpha, beta = fx["full"]
            attn = oracle_softmax_attention(fx, W, p, a)
        b = rms(alpha * a + beta * attn, W[p + "post_attention_layernorm.weight"], fx["eps"])
        x = fx["mlp"][0] * b + fx["mlp"][1] * oracle_moe(fx, W, p, b, margins, gaps)
    h = rms(x, W["model.norm.weight"], fx["eps"])
    return h @ W["lm_head.weight"].T, (min(margins) if margins else 1.0)


def router_logit_gaps(fx, W, tokens):
    """Per position, the smallest float64 router-logit gap between the k-th and (k+1)-th expert over
    all layers (1e30 where every expert is used). Where it is below the router-logit error of bf16
    compute, a bf16 engine may route the position differently (tests/model/gpu_model_test.cpp)."""
    gaps = np.full(len(tokens), 1e30)
    oracle_logits(fx, W, tokens, gaps)
    return gaps


def write_router_gaps(folder, entry, fx, W):
    for k, seq in enumerate(entry["sequences"]):
        tokens = [int(t) for t in open(os.path.join(folder, seq["tokens"])).read().split()]
        seq["router_gaps"] = f"router_gaps_{k}.f32"
        write_floats(os.path.join(folder, seq["router_gaps"]), router_logit_gaps(fx, W, tokens))


def add_router_gaps(out):
    """--router-gaps-only: adds router_gaps_<k>.f32 to the fixtures already in `out` (tokens and
    logits untouched; numpy only)."""
    path = os.path.join(out, "fixtures.json")
    index = json.load(open(path))
    by_name = {fx["name"]: fx for fx in FIXTURES}
    for entry in index["fixtures"]:
        fx = by_name[entry["name"]]
        W = {name: value for name, (_, _, value) in make_weights(fx).items()}
        write_router_gaps(os.path.join(out, fx["name"]), entry, fx, W)
    with open(path, "w") as f:
        json.dump(index, f, indent=2)
    return 0


def argmax_margin(logits):
    top2 = np.sort(logits, axis=1)[:, -2:]
    return float(np.min((top2[:, 1] - top2[:, 0]) / np.linalg.norm(logits, axis=1)))


def max_relative_error(a, b):
    return float(np.max(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))


def draw_tokens(fx, W, k, length):
    """Token ids for sequence k: the first draw whose routing and argmax margins are safe (for
    fp32 compute; with bf16_safe_routing, routing also for bf16 compute)."""
    for attempt in range(100):
        rng = np.random.default_rng([fx["seed"], k, attempt])
        tokens = rng.integers(0, fx["vocab"], size=length).tolist()
        logits, router_margin = oracle_logits(fx, W, tokens)
        top_margin = argmax_margin(logits)
        bf16_safe = not fx.get("bf16_safe_routing") or router_logit_gaps(fx, W, tokens).min() >= MIN_ROUTER_GAP_BF16
        if router_margin > MIN_ROUTER_MARGIN and top_margin > MIN_ARGMAX_MARGIN and bf16_safe:
            return tokens, logits, router_margin, top_margin, attempt
    raise RuntimeError(f"{fx['name']}: no token draw with safe margins in 100 attempts")


# ----------------------------------------------------------------------------------------------
# transformers, patched per M1_SPEC.md section 5 (only with torch present).

class TransformersReference:
    def __init__(self):
        import torch
        import transformers
        from transformers.models.minimax import modeling_minimax as mm
        self.torch, self.mm, self.version = torch, mm, transformers.__version__
        self.calls = {"rope": 0, "experts": 0, "router": 0, "norm": 0}
        self._patch_classes()

    def _patch_classes(self):
        torch, mm, calls = self.torch, self.mm, self.calls
        F = torch.nn.functional

        def rotate_half(x):
            half = x.shape[-1] // 2
            return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

        def partial_rope(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
            # cos/sin span rotary_dim (see rotary_forward); dims past it pass through.
            calls["rope"] += 1
            r = cos.shape[-1]
            cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)

            def rotate(x):
                head, tail = x[..., :r], x[..., r:]
                return torch.cat((head * cos + rotate_half(head) * sin, tail), dim=-1)
            return rotate(q), rotate(k)
        self.original_rope = mm.apply_rotary_pos_emb
        mm.apply_rotary_pos_emb = partial_rope
        self.partial_rope = partial_rope

        def eager_experts(module, hidden_states, top_k_index, top_k_weights):
            calls["experts"] += 1
            out = torch.zeros_like(hidden_states)
            for e in range(module.num_experts):
                token, slot = torch.nonzero(top_k_index == e, as_tuple=True)
                if token.numel() == 0:
                    continue
                gate, up = F.linear(hidden_states[token], module.gate_up_proj[e]).chunk(2, dim=-1)
                y = F.linear(F.silu(gate) * up, module.down_proj[e])
                out.index_add_(0, token, y * top_k_weights[token, slot, None])
            return out
        mm.MiniMaxExperts.forward = eager_experts

        def router_fp64(module, hidden_states):
            calls["router"] += 1
            hidden_states = hidden_states.reshape(-1, module.hidden_dim)
            probs = torch.softmax(F.linear(hidden_states, module.weight), dim=-1)
            top_value, top_index = torch.topk(probs, module.top_k, dim=-1)
            top_value = top_value / top_value.sum(dim=-1, keepdim=True)
            return probs, top_value, top_index
        mm.MiniMaxTopKRouter.forward = router_fp64

        def rmsnorm_fp64(module, hidden_states):
            # transformers computes the norm in fp32 whatever the input dtype.
            calls["norm"] += 1
            variance = hidden_states.pow(2).mean(-1, keepdim=True)
            return module.weight * (hidden_states * torch.rsqrt(variance + module.variance_epsilon))
        mm.MiniMaxRMSNorm.forward = rmsnorm_fp64

    def build(self, fx, weights):
        torch, mm = self.torch, self.mm
        torch.set_default_dtype(torch.float64)
        cfg = mm.MiniMaxConfig(
            vocab_size=fx["vocab"], hidden_size=fx["hidden"], intermediate_size=fx["ffn"],
            num_hidden_layers=len(fx["kinds"]), num_attention_heads=fx["heads"],
            num_key_value_heads=fx["kv_heads"], head_dim=fx["head_dim"],
            max_position_embeddings=4096, rms_norm_eps=fx["eps"],
            num_experts_per_tok=fx["top_k"], num_local_experts=fx["experts"],
            rope_parameters={"rope_type": "default", "rope_theta": fx["theta"]},
            layer_types=["full_attention" if k else "linear_attention" for k in fx["kinds"]],
            block_size=fx["block"], tie_word_embeddings=False,
            full_attn_alpha_factor=fx["full"][0], full_attn_beta_factor=fx["full"][1],
            linear_attn_alpha_factor=fx["lin"][0], linear_attn_beta_factor=fx["lin"][1],
            mlp_alpha_factor=fx["mlp"][0], mlp_beta_factor=fx["mlp"][1])
        cfg._attn_implementation = "eager"
        if hasattr(cfg, "_experts_implementation"):
            cfg._experts_implementation = "eager"
        model = mm.MiniMaxForCausalLM(cfg).eval().to(torch.float64)
        assert model.config._attn_implementation == "eager", model.config._attn_implementation

        params = dict(model.named_parameters())
        if set(params) != set(weights):
            raise RuntimeError(f"parameter names differ: transformers-only "
                               f"{sorted(set(params) - set(weights))}, ours-only "
                               f"{sorted(set(weights) - set(params))}")
        with torch.no_grad():
            for name, p in params.items():
                value = torch.from_numpy(weights[name][2])
                assert tuple(p.shape) == tuple(value.shape), (name, p.shape, value.shape)
                p.copy_(value)
        self._fix_decays(fx, model)
        self._fix_rotary(fx, model)
        return model

    def _fix_decays(self, fx, model):
        torch, mm = self.torch, self.mm
        for l, layer in enumerate(model.model.layers):
            attn = layer.self_attn
            if not isinstance(attn, mm.MiniMaxLightningAttention):
                continue
            slope = torch.tensor(lightning_slopes(fx, l), dtype=torch.float64)[:, None, None]
            query_decay, key_decay, diagonal_decay = attn.decay_factors(slope)
            attn.slope_rate, attn.query_decay = slope, query_decay
            attn.key_decay, attn.diagonal_decay = key_decay, diagonal_decay

    def _fix_rotary(self, fx, model):
        torch = self.torch
        r, theta = fx["rotary_dim"], fx["theta"]
        inv = torch.tensor(theta ** (-(2.0 * np.arange(r // 2)) / r), dtype=torch.float64)

        def rotary_forward(x, position_ids):
            angles = position_ids.to(torch.float64)[..., None] * inv
            emb = torch.cat((angles, angles), dim=-1)
            return emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        model.model.rotary_emb.forward = rotary_forward
        # Some versions keep the rope function on each attention module too.
        for module in model.modules():
            hidden = module.__dict__.get("_hidden_kernels")
            if isinstance(hidden, dict):
                for key, fn in list(hidden.items()):
                    if fn is self.original_rope:
                        hidden[key] = self.partial_rope
            for key, value in list(module.__dict__.items()):
                if value is self.original_rope:
                    setattr(module, key, self.partial_rope)

    def logits(self, model, tokens):
        """(single-pass prefill logits, prefill-half-then-decode logits), float64 numpy."""
        torch = self.torch
        ids = torch.tensor([tokens])
        n = len(tokens)
        before = dict(self.calls)
        with torch.no_grad():
            full = model(input_ids=ids, use_cache=True).logits[0].numpy()
            p = max(1, n // 2)
            out = model(input_ids=ids[:, :p], use_cache=True,
                        position_ids=torch.arange(p)[None], cache_position=torch.arange(p))
            steps = [out.logits[0].numpy()]
            cache = out.past_key_values
            for t in range(p, n):
                out = model(input_ids=ids[:, t:t + 1], past_key_values=cache, use_cache=True,
                            position_ids=torch.tensor([[t]]), cache_position=torch.tensor([t]))
                cache = out.past_key_values
                steps.append(out.logits[0].numpy())
        softmax_layers = sum(1 for k in self._kinds if k)
        if softmax_layers and self.calls["rope"] == before["rope"]:
            raise RuntimeError("the partial-RoPE patch was never called: transformers changed")
        for patch in ("experts", "router", "norm"):
            if self.calls[patch] == before[patch]:
                raise RuntimeError(f"the float64 {patch} patch was never called: transformers changed")
        return full, np.concatenate(steps, axis=0)


# ----------------------------------------------------------------------------------------------

def write_floats(path, array):
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder to write (replaced)")
    parser.add_argument("--oracle-only", action="store_true",
                        help="no torch: logits from the numpy implementation only")
    parser.add_argument("--only", default="", help="comma-separated fixture names")
    parser.add_argument("--router-gaps-only", action="store_true",
                        help="only add router_gaps_<k>.f32 to the fixtures already in --out")
    args = parser.parse_args()
    if args.router_gaps_only:
        return add_router_gaps(args.out)

    reference = None if args.oracle_only else TransformersReference()
    wanted = set(filter(None, args.only.split(",")))
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    summary, failures = [], []
    for fx in FIXTURES:
        if wanted and fx["name"] not in wanted:
            continue
        folder = os.path.join(args.out, fx["name"])
        os.makedirs(folder)
        weights = make_weights(fx)
        W = {name: value for name, (_, _, value) in weights.items()}
        write_checkpoint(fx, checkpoint_tensors(fx, weights), folder)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config_json(fx), f, indent=2, sort_keys=True)
        model = None
        if reference is not None:
            reference._kinds = fx["kinds"]
            model = reference.build(fx, weights)
        entry = {"name": fx["name"], "dialect": fx["dialect"], "storage": fx["storage"],
                 "shards": fx["shards"], "vocab": fx["vocab"], "sequences": []}
        for k, length in enumerate(fx["lengths"]):
            tokens, oracle, router_margin, top_margin, attempt = draw_tokens(fx, W, k, length)
            seq = {"tokens": f"tokens_{k}.txt", "logits": f"logits_{k}.f32", "n_tokens": length,
                   "draw": attempt, "min_router_margin": router_margin,
                   "min_argmax_margin_relative": top_margin}
            golden = oracle
            if model is not None:
                full, stepped = reference.logits(model, tokens)
                seq["rel_err_transformers_vs_numpy"] = max_relative_error(full, oracle)
                seq["rel_err_decode_steps_vs_prefill"] = max_relative_error(stepped, full)
                for key in ("rel_err_transformers_vs_numpy", "rel_err_decode_steps_vs_prefill"):
                    if not seq[key] < AGREEMENT:
                        failures.append(f"{fx['name']} seq {k}: {key} = {seq[key]:.3e}")
                golden = full
            with open(os.path.join(folder, seq["tokens"]), "w") as f:
                f.write(" ".join(str(t) for t in tokens) + "\n")
            write_floats(os.path.join(folder, seq["logits"]), golden)
            entry["sequences"].append(seq)
        write_router_gaps(folder, entry, fx, W)
        summary.append(entry)

    source = ("numpy float64 implementation only (--oracle-only: provisional, not the reference)"
              if reference is None else
              f"transformers {reference.version} MiniMaxForCausalLM, float64, patched per M1_SPEC.md "
              "section 5; checked against an independent float64 numpy implementation")
    with open(os.path.join(args.out, "fixtures.json"), "w") as f:
        json.dump({"generator": "tests/reference/make_model_goldens.py", "reference": source,
                   "fixtures": summary}, f, indent=2)

    print(f"{'fixture':28} {'seq':>3} {'n':>4} {'router margin':>13} {'argmax margin':>13} "
          f"{'hf vs numpy':>11} {'steps vs full':>13}")
    for entry in summary:
        for k, seq in enumerate(entry["sequences"]):
            print(f"{entry['name']:28} {k:>3} {seq['n_tokens']:>4} {seq['min_router_margin']:13.2e} "
                  f"{seq['min_argmax_margin_relative']:13.2e} "
                  f"{seq.get('rel_err_transformers_vs_numpy', float('nan')):11.2e} "
                  f"{seq.get('rel_err_decode_steps_vs_prefill', float('nan')):13.2e}")
    print(source)
    if failures:
        print("DISAGREEMENT:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
