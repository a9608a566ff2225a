// `m1 doctor`: what was built and what works on this machine, each "no" with a one-line reason.
#include <cstdio>
#include <string>

#include "agents/cli/command.h"
#include "kernels/cpu_info.h"
#include "kernels/device_info.h"
#include "m1_build_config.h"
#if !M1_ENGINE_ONLY
#include "agents/store_version.h"
#include "sandbox/isolation_probe.h"
#endif

namespace m1::cli {

namespace {

void print_row(const char * component, bool ok, const std::string & detail) {
  std::printf("  %-16s %-4s %s\n", component, ok ? "yes" : "no", detail.c_str());
}

std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", double(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

int run_doctor() {
  std::printf("m1 %s (%s build%s)\n", M1_VERSION, M1_BUILD_TYPE,
              M1_ENGINE_ONLY ? ", engine only" : "");

  kernels::CpuReport cpu = kernels::probe_cpu();
  print_row("cpu", true, std::to_string(cpu.hardware_threads) + " threads; " + cpu.blas);

  kernels::AcceleratorReport acc = kernels::probe_accelerators();
  std::string cuda_detail = acc.cuda_reason;
  if (acc.cuda_reason.empty()) {
    cuda_detail = "runtime " + acc.cuda_runtime_version + ", built for sm_" M1_CUDA_ARCHITECTURES;
  }
  print_row("cuda", acc.cuda_built && acc.cuda_reason.empty(), cuda_detail);
  for (const kernels::CudaDevice & d : acc.devices)
    std::printf("  %-16s      %s, compute %d.%d, %s\n", ("cuda:" + std::to_string(d.index)).c_str(),
                d.name.c_str(), d.compute_major, d.compute_minor, gib(d.memory_bytes).c_str());
  print_row("nccl", acc.nccl_built && acc.nccl_reason.empty(),
            acc.nccl_reason.empty() ? "version " + acc.nccl_version : acc.nccl_reason);

#if M1_ENGINE_ONLY
  print_row("user namespaces", false, "not built: engine-only build has no sandbox");
  print_row("seccomp", false, "not built: engine-only build has no sandbox");
  print_row("sqlite", false, "not built: engine-only build has no session store");
#else
  sandbox::ProbeResult userns = sandbox::probe_user_namespaces();
  print_row("user namespaces", userns.usable, userns.usable ? "unshare(CLONE_NEWUSER) works" : userns.reason);
  sandbox::ProbeResult seccomp = sandbox::probe_seccomp();
  print_row("seccomp", seccomp.usable,
            seccomp.usable ? "filters enforced; libseccomp " + sandbox::libseccomp_version() : seccomp.reason);
  print_row("sqlite", true, "version " + agents::sqlite_version());
#endif
  return 0;
}

}  // namespace

void add_doctor_command(CLI::App & app, CommandList & commands) {
  CLI::App * sub = app.add_subcommand("doctor", "what was built and what works here");
  commands.push_back({sub, run_doctor});
}

}  // namespace m1::cli
