#!/usr/bin/env python3
"""The peer of m1_gpu_model_bench: transformers' MiniMaxForCausalLM in bf16 on the same GPU and the
same random checkpoint (config.json in the original dialect + safetensors, as
write_random_checkpoint writes it), batch 1: prefill tokens/s and greedy decode tokens/s.

    python3 tests/bench/transformers_reference.py --dir DIR [--prefill 512] [--decode 64]
    python3 tests/bench/transformers_reference.py --copy-bandwidth   # prints GB/s only

The model is patched as M1_SPEC.md section 5 says (RoPE over rotary_dim only, the original decay
formula) so it computes the same network as ours; everything else is transformers' own code path
for bf16 on the GPU (its default attention and expert implementations, its cache). Decode passes
explicit position_ids and cache_position, as its cache reports length 0 after a prefill.
--copy-bandwidth measures device-to-device copy bandwidth (bytes read + written per second), the
denominator of the decode floor in BENCHMARKS.md.
"""

import argparse
import json
import os
import sys
import time


def copy_bandwidth_gbps(torch, n_bytes=2 << 30, reps=20):
    src = torch.empty(n_bytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(reps):
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return 2 * n_bytes / best / 1e9


def load_tensors(folder):
    from safetensors.torch import load_file
    index = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else [
        "model.safetensors"]
    tensors = {}
    for f in files:
        tensors.update(load_file(os.path.join(folder, f)))
    return tensors


def to_transformers_names(tensors, n_layers, n_experts, torch):
    """Original-dialect names -> MiniMaxForCausalLM's (stacked experts, mlp.gate)."""
    out = {}
    for name, t in tensors.items():
        if ".block_sparse_moe.experts." not in name:
            out[name.replace(".block_sparse_moe.gate.", ".mlp.gate.")] = t
    for l in range(n_layers):
        p = f"model.layers.{l}.block_sparse_moe.experts."
        w = lambda e, k: tensors[f"{p}{e}.{k}.weight"]  # noqa: E731
        out[f"model.layers.{l}.mlp.experts.gate_up_proj"] = torch.stack(
            [torch.cat([w(e, "w1"), w(e, "w3")], dim=0) for e in range(n_experts)])
        out[f"model.layers.{l}.mlp.experts.down_proj"] = torch.stack([w(e, "w2") for e in range(n_experts)])
    return out


def build_model(folder, torch):
    from transformers.models.minimax import modeling_minimax as mm
    c = json.load(open(os.path.join(folder, "config.json")))
    if c.get("model_type") != "minimax_m1":
        raise SystemExit(f"{folder}/config.json: model_type {c.get('model_type')!r}, expected 'minimax_m1'")
    kinds, L, H = c["attn_type_list"], c["num_hidden_layers"], c["num_attention_heads"]
    cfg = mm.MiniMaxConfig(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=c["num_key_value_heads"],
        head_dim=c["head_dim"], max_position_embeddings=c.get("max_position_embeddings", 1 << 20),
        rms_norm_eps=c["rms_norm_eps"], num_experts_per_tok=c["num_experts_per_tok"],
        num_local_experts=c["num_local_experts"],
        rope_parameters={"rope_type": "default", "rope_theta": c["rope_theta"]},
        layer_types=["full_attention" if k else "linear_attention" for k in kinds], block_size=256,
        tie_word_embeddings=False,
        full_attn_alpha_factor=c["layernorm_full_attention_alpha"],
        full_attn_beta_factor=c["layernorm_full_attention_beta"],
        linear_attn_alpha_factor=c["layernorm_linear_attention_alpha"],
        linear_attn_beta_factor=c["layernorm_linear_attention_beta"],
        mlp_alpha_factor=c["layernorm_mlp_alpha"], mlp_beta_factor=c["layernorm_mlp_beta"])
    with torch.device("cuda"):
        model = mm.MiniMaxForCausalLM(cfg).to(torch.bfloat16).eval()
    state = to_transformers_names(load_tensors(folder), L, c["num_local_experts"], torch)
    missing, unexpected = model.load_state_dict({k: v.to(torch.bfloat16) for k, v in state.items()}, strict=False)
    parameters = {name for name, _ in model.named_parameters()}
    missing = [k for k in missing if k in parameters]  # buffers (rotary, decays) are rebuilt below
    if missing or unexpected:
        raise SystemExit(f"checkpoint does not fit MiniMaxForCausalLM: missing {missing[:5]}, unexpected "
                         f"{unexpected[:5]}")
    patch_rotary_and_decay(model, mm, c, torch)
    return model, c


def patch_rotary_and_decay(model, mm, c, torch):
    """M1_SPEC.md section 5: RoPE on the first rotary_dim dims only; the original decay formula."""
    r, theta, L, H = c["rotary_dim"], c["rope_theta"], c["num_hidden_layers"], c["num_attention_heads"]
    inv = theta ** (-(torch.arange(r // 2, dtype=torch.float64) * 2.0) / r)

    def rotary_forward(x, position_ids):
        angles = position_ids.to(torch.float64)[..., None] * inv.to(x.device)
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    model.model.rotary_emb.forward = rotary_forward

    def partial_rope(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
        half = cos.shape[-1] // 2
        cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)

        def rotate(x):
            head, tail = x[..., :2 * half], x[..., 2 * half:]
            rotated = torch.cat((-head[..., half:], head[..., :half]), dim=-1)
            return torch.cat((head * cos + rotated * sin, tail), dim=-1)
        return rotate(q), rotate(k)
    original = mm.apply_rotary_pos_emb
    mm.apply_rotary_pos_emb = partial_rope
    for module in model.modules():
        hidden = module.__dict__.get("_hidden_kernels")
        if isinstance(hidden, dict):
            for key, fn in list(hidden.items()):
                if fn is original:
                    hidden[key] = partial_rope
        for key, value in list(module.__dict__.items()):
            if value is original:
                setattr(module, key, partial_rope)
    for l, layer in enumerate(model.model.layers):
        attn = layer.self_attn
        if isinstance(attn, mm.MiniMaxLightningAttention):
            # on the CPU, where decay_factors builds its block index range
            slope = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) * (1.0 - l / (L - 1) + 1e-5) for h in range(H)],
                                 dtype=torch.float32)[:, None, None]
            decays = attn.decay_factors(slope)
            # in the dtype transformers keeps them in (bf16 after .to(bfloat16)), as its own code would
            for name, value in zip(("slope_rate", "query_decay", "key_decay", "diagonal_decay"), (slope, *decays)):
                old = getattr(attn, name)
                setattr(attn, name, value.to(dtype=old.dtype, device=old.device))


def run_once(model, torch, tokens, n_prefill, n_decode):
    """(prefill seconds, decode seconds) of one prefill and n_decode greedy steps."""
    ids = tokens[:, :n_prefill]
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = model(input_ids=ids, use_cache=True, position_ids=torch.arange(n_prefill, device="cuda")[None],
                cache_position=torch.arange(n_prefill, device="cuda"))
    torch.cuda.synchronize()
    prefill = time.perf_counter() - start
    cache = out.past_key_values
    next_id = out.logits[:, -1].argmax(-1, keepdim=True)
    start = time.perf_counter()
    for t in range(n_prefill, n_prefill + n_decode):
        pos = torch.tensor([t], device="cuda")
        out = model(input_ids=next_id, past_key_values=cache, use_cache=True, position_ids=pos[None],
                    cache_position=pos)
        cache = out.past_key_values
        next_id = out.logits[:, -1].argmax(-1, keepdim=True)
    torch.cuda.synchronize()
    return prefill, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", help="checkpoint folder (m1_gpu_model_bench writes it)")
    parser.add_argument("--prefill", type=int, default=512)
    parser.add_argument("--decode", type=int, default=64)
    parser.add_argument("--copy-bandwidth", action="store_true", help="print the copy bandwidth in GB/s, exit")
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("transformers_reference: no CUDA device", file=sys.stderr)
        return 1
    if args.copy_bandwidth:
        print(f"{copy_bandwidth_gbps(torch):.0f}")
        return 0
    if not args.dir:
        parser.error("--dir is required")
    import transformers
    start = time.perf_counter()
    model, c = build_model(args.dir, torch)
    params = sum(p.numel() for p in model.parameters())
    print(f"transformers {transformers.__version__} MiniMaxForCausalLM bf16 ({params / 1e9:.3f}B parameters, "
          f"attention {model.config._attn_implementation}), loaded in {time.perf_counter() - start:.1f} s")
    gen = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, c["vocab_size"], (1, args.prefill), generator=gen).cuda()
    best_prefill, best_decode = float("inf"), float("inf")
    with torch.inference_mode():
        for run in range(3):  # the first run warms up (kernels, allocator, autotuning)
            prefill, decode = run_once(model, torch, tokens, args.prefill, args.decode)
            if run > 0:
                best_prefill, best_decode = min(best_prefill, prefill), min(best_decode, decode)
    print(f"transformers prefill {args.prefill} tokens, batch 1: {best_prefill * 1e3:.1f} ms, "
          f"{args.prefill / best_prefill:.0f} tokens/s")
    print(f"transformers decode {args.decode} steps, batch 1: {best_decode / args.decode * 1e3:.3f} ms/token, "
          f"{args.decode / best_decode:.1f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
