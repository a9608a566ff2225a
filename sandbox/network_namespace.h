// The network namespace: by default the sandbox gets an empty one holding only loopback, which
// is brought up here (the seccomp policy additionally refuses non-AF_UNIX sockets then).
// Policy::allow_network keeps the host's network namespace instead.
#pragma once

#include "sandbox/setup_step.h"

namespace m1::sandbox {

SetupError bring_up_loopback();  // child side, inside the new network namespace

}  // namespace m1::sandbox
