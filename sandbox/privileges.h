// Privileges the sandbox gives up before the command runs: every capability (effective,
// permitted, inheritable, ambient and the bounding set, with securebits locked so that uid 0
// inside cannot regain them through execve), and PR_SET_NO_NEW_PRIVS so that setuid binaries and
// file capabilities are powerless.
#pragma once

#include "sandbox/setup_step.h"

namespace m1::sandbox {

int last_capability();  // parent side: /proc/sys/kernel/cap_last_cap

SetupError drop_privileges(int last_cap);  // child side, no allocation

}  // namespace m1::sandbox
