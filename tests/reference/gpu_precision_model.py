#!/usr/bin/env python3
"""Where the GPU forward loses accuracy: a float64 numpy model of model/gpu_forward.cpp that rounds
to bf16 exactly where the GPU path stores bf16, run on the tiny fixtures of tests/data/model and
compared with their float64 goldens, with each rounding point switchable.

It answers "which bf16 store costs the accuracy" without a GPU: for each variant it prints, per
fixture sequence, the worst relative error per position, the share of positions within 2e-2, the
argmax agreement and how many top-k expert choices differ from the float64 model's. It is a model
of the rounding, not of the kernels' accumulation order (fp32 accumulation is taken as exact), so
it gives the floor each storage design can reach; the GPU tests measure the real thing.

    /usr/bin/python3 tests/reference/gpu_precision_model.py [--variant NAME ...]

Variants (each the set of places that store bf16 rather than fp32):
  gpu_before    the forward before the fp32 residual stream: the normed rows a and b and the final
                norm output in bf16 (transformers' bf16 RMSNorm: bf16(bf16(x * rstd) * w)), the
                router reading bf16 b, both branch outputs (attention, MoE) stored in bf16
  gpu_now       model/gpu_forward.cpp now: a, b, the router input, the attention branch output and
                the final norm output in fp32; GEMM inputs, attention and expert intermediates and
                the MoE output (its un-permute writes bf16) in bf16
  bf16_attn_out gpu_now with the attention branch output stored in bf16
  bf16_router   gpu_now with the router reading the bf16 copy of b
  fp32_branch   gpu_now with the MoE output in fp32 too
  weights_only  everything fp32 except the weights (bf16 on the device): the floor of bf16 weights
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_goldens as mg  # noqa: E402  (weights are regenerated from the same seeds)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "model")

ALL = {"norm_out", "norm_double_round", "router_in", "final_norm", "gemm_in", "intermediate", "attn_out",
       "moe_out"}
GPU_NOW = {"gemm_in", "intermediate", "moe_out"}
VARIANTS = {
    "gpu_before": ALL,
    "gpu_now": GPU_NOW,
    "bf16_attn_out": GPU_NOW | {"attn_out"},
    "bf16_router": GPU_NOW | {"router_in"},
    "fp32_branch": GPU_NOW - {"moe_out"},
    "weights_only": set(),
}


def bf16(x):
    """Round float64 values to bf16 (through fp32, round to nearest even), as the GPU stores them."""
    return mg.bf16_to_f32(mg.round_bf16(np.asarray(x, dtype=np.float32))).astype(np.float64)


class Precision:
    def __init__(self, rounded):
        self.rounded = rounded

    def r(self, where, x):
        return bf16(x) if where in self.rounded else x

    def norm(self, x, w, eps, out_where):
        """RMSNorm as the GPU kernel does it, with the output stored where `out_where` says."""
        y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        if out_where in self.rounded and "norm_double_round" in self.rounded:
            return bf16(bf16(y) * w)
        return self.r(out_where, y * w)


def device_weights(fx, W):
    """The weights as the GPU holds them: bf16 (fp16 checkpoints too), routers and LM head fp32."""
    out = {}
    for name, value in W.items():
        keep = name.endswith("mlp.gate.weight") or name == "lm_head.weight"
        out[name] = value if keep else bf16(value)
    return out


def lightning(fx, W, p, a, P):
    n, H, d = a.shape[0], fx["heads"], fx["head_dim"]
    a_in = P.r("gemm_in", a)
    qkv = P.r("intermediate", mg.silu(P.r("intermediate", a_in @ W[p + "self_attn.qkv_proj.weight"].T)))
    qkv = qkv.reshape(n, H, 3 * d)
    q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
    lam = np.exp(-mg.lightning_slopes(fx, int(p.split(".")[2])))
    S = np.zeros((H, d, d))
    o = np.zeros((n, H, d))
    for t in range(n):
        S = lam[:, None, None] * S + k[t][:, :, None] * v[t][:, None, :]
        o[t] = np.einsum("hi,hij->hj", q[t], S)
    o = P.r("intermediate", o.reshape(n, H * d))
    gate = P.r("intermediate", a_in @ W[p + "self_attn.output_gate.weight"].T)
    y = o / np.sqrt(np.mean(o * o, axis=-1, keepdims=True) + mg.LIGHTNING_NORM_EPS)
    if "intermediate" in P.rounded:  # gated_rms_norm: bf16(bf16(bf16(o * rstd) * w) * sigmoid(g))
        y = bf16(bf16(bf16(y) * W[p + "self_attn.norm.weight"]) / (1.0 + np.exp(-gate)))
    else:
        y = y * W[p + "self_attn.norm.weight"] / (1.0 + np.exp(-gate))
    return P.r("attn_out", y @ W[p + "self_attn.out_proj.weight"].T)


def softmax_attention(fx, W, p, a, P):
    n, H, d, Hkv = a.shape[0], fx["heads"], fx["head_dim"], fx["kv_heads"]
    a_in = P.r("gemm_in", a)
    proj = lambda name, heads: P.r("intermediate", a_in @ W[p + name].T).reshape(n, heads, d)  # noqa: E731
    q = P.r("intermediate", mg.rope(proj("self_attn.q_proj.weight", H), fx["rotary_dim"], fx["theta"]))
    k = P.r("intermediate", mg.rope(proj("self_attn.k_proj.weight", Hkv), fx["rotary_dim"], fx["theta"]))
    v = proj("self_attn.v_proj.weight", Hkv)
    o = np.zeros((n, H, d))
    group = H // Hkv
    causal = np.tril(np.ones((n, n), dtype=bool))
    for h in range(H):
        s = np.where(causal, q[:, h] @ k[:, h // group].T / math.sqrt(d), -np.inf)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        o[:, h] = (s / s.sum(axis=1, keepdims=True)) @ v[:, h // group]
    o = P.r("intermediate", o.reshape(n, H * d))
    return P.r("attn_out", o @ W[p + "self_attn.o_proj.weight"].T)


def moe(fx, W, p, b, P, choices):
    F, k = fx["ffn"], fx["top_k"]
    logits = P.r("router_in", b) @ W[p + "mlp.gate.weight"].T
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    b_in = P.r("gemm_in", b)
    out = np.zeros_like(b)
    picked = []
    for t in range(b.shape[0]):
        top = np.argsort(-probs[t], kind="stable")[:k]
        picked.append(sorted(top.tolist()))
        w = probs[t, top] / probs[t, top].sum()
        for e, we in zip(top, w):
            gu = P.r("intermediate", W[p + "mlp.experts.gate_up_proj"][e] @ b_in[t])
            h = P.r("intermediate", mg.silu(gu[:F]) * gu[F:])
            out[t] += we * P.r("intermediate", W[p + "mlp.experts.down_proj"][e] @ h)
    choices.append(picked)
    return P.r("moe_out", out)


def forward(fx, W, tokens, P):
    choices = []
    x = W["model.embed_tokens.weight"][np.asarray(tokens)]
    for l, kind in enumerate(fx["kinds"]):
        p = f"model.layers.{l}."
        a = P.norm(x, W[p + "input_layernorm.weight"], fx["eps"], "norm_out")
        alpha, beta = fx["full"] if kind else fx["lin"]
        attn = softmax_attention(fx, W, p, a, P) if kind else lightning(fx, W, p, a, P)
        b = P.norm(alpha * a + beta * attn, W[p + "post_attention_layernorm.weight"], fx["eps"], "norm_out")
        x = fx["mlp"][0] * b + fx["mlp"][1] * moe(fx, W, p, b, P, choices)
    h = P.norm(x, W["model.norm.weight"], fx["eps"], "final_norm")
    return h @ W["lm_head.weight"].T, choices


def compare(logits, golden):
    err = np.linalg.norm(logits - golden, axis=1) / np.linalg.norm(golden, axis=1)
    same = np.argmax(logits, axis=1) == np.argmax(golden, axis=1)
    return err, same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: all")
    args = parser.parse_args()
    index = json.load(open(os.path.join(ROOT, "fixtures.json")))
    fixtures = {fx["name"]: fx for fx in mg.FIXTURES}
    print(f"{'variant':13} {'fixture':24} {'seq':>3} {'n':>4} {'worst':>8} {'<=2e-2':>7} {'argmax':>7} "
          f"{'expert flips':>12}")
    for variant in args.variant or list(VARIANTS):
        P = Precision(VARIANTS[variant])
        totals = [0, 0, 0]
        for entry in index["fixtures"]:
            fx = fixtures[entry["name"]]
            W = {name: value for name, (_, _, value) in mg.make_weights(fx).items()}
            Wd = device_weights(fx, W)
            folder = os.path.join(ROOT, fx["name"])
            for k, seq in enumerate(entry["sequences"]):
                tokens = [int(t) for t in open(os.path.join(folder, seq["tokens"])).read().split()]
                golden = np.fromfile(os.path.join(folder, seq["logits"]), dtype="<f4").astype(np.float64)
                golden = golden.reshape(len(tokens), fx["vocab"])
                logits, choices = forward(fx, Wd, tokens, P)
                _, exact = forward(fx, W, tokens, Precision(set()))
                flips = sum(c != e for lc, le in zip(choices, exact) for c, e in zip(lc, le))
                err, same = compare(logits, golden)
                totals[0] += len(tokens)
                totals[1] += int(np.sum(err <= 2e-2))
                totals[2] += int(np.sum(same))
                print(f"{variant:13} {fx['name']:24} {k:>3} {len(tokens):>4} {err.max():8.2e} "
                      f"{np.mean(err <= 2e-2):7.1%} {np.mean(same):7.1%} "
                      f"{flips:>5}/{len(tokens) * len(fx['kinds'])}")
        print(f"{variant:13} {'all':24} {'':>3} {totals[0]:>4} {'':>8} {totals[1] / totals[0]:7.1%} "
              f"{totals[2] / totals[0]:7.1%}")


if __name__ == "__main__":
    sys.exit(main())
