// The user namespace: the sandbox runs as the same uid/gid it had outside (as bubblewrap does),
// mapped one-to-one, so files it creates in the workspace belong to the invoking user. Works
// unprivileged: the child maps only its own ids after denying setgroups.
#pragma once

#include "sandbox/setup_step.h"

namespace m1::sandbox {

struct IdMaps {
  char uid_map[48] = {};  // "INSIDE OUTSIDE 1\n"
  char gid_map[48] = {};
};

IdMaps id_maps_for_current_user();  // parent side

// Child side (no allocation): writes /proc/self/{setgroups,uid_map,gid_map}.
SetupError apply_id_maps(const IdMaps & maps);

}  // namespace m1::sandbox
