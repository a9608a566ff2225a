// Turns a --model argument into a model backend: "script:FILE.json" is the scripted model; a
// directory is a model for the embedded engine.
#pragma once

#include <memory>
#include <string>

#include "agents/model_backend.h"

namespace m1::agents {

Expected<std::unique_ptr<ModelBackend>> open_model(const std::string & model);

}  // namespace m1::agents
