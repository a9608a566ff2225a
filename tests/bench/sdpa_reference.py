# PyTorch's scaled_dot_product_attention with the flash backend at the shapes of the softmax prefill
# in m1_gpu_kernels_bench: causal, batch 1, 64 query heads, 8 KV heads, head dim 128, bf16.
# Median of CUDA-event timings after warm-up, random inputs. Run by scripts/gpu_benchmarks.sh.
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def bench(n, reps):
    q = torch.randn(1, 64, n, 128, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 8, n, 128, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, 8, n, 128, device="cuda", dtype=torch.bfloat16)
    how = "gqa"
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        def run():
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        try:
            run()
        except RuntimeError:  # flash without GQA support: expand the KV heads
            k, v = k.repeat_interleave(8, dim=1), v.repeat_interleave(8, dim=1)
            how = "kv repeated"
            def run():
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        for _ in range(3):
            run()
        times = []
        for _ in range(reps):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
    ms = statistics.median(times)
    flops = 4.0 * 64 * 128 * n * (n + 1) / 2
    print(f"{'sdpa flash (torch)':26s} {str(n // 1024) + 'K, 64/8 heads':22s} {ms:10.4f}  "
          f"{flops / ms / 1e9:.0f} TFLOP/s ({how})")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    bench(4096, 5 if quick else 30)
    bench(32768, 3 if quick else 10)
