#include "agents/model_factory.h"

#include <filesystem>

#include "agents/engine_model.h"
#include "agents/scripted_model.h"

namespace m1::agents {

Expected<std::unique_ptr<ModelBackend>> open_model(const std::string & model) {
  if (is_script_model(model)) {
    Expected<std::unique_ptr<ScriptedModel>> scripted = ScriptedModel::from_file(script_path(model));
    if (!scripted.ok()) return scripted.status();
    return std::unique_ptr<ModelBackend>(std::move(*scripted));
  }
  if (model.empty()) return Status::error("--model: no model given; pass a model directory or script:FILE.json");
  if (!std::filesystem::is_directory(model))
    return Status::error(model + ": not a model directory (or use script:FILE.json for the scripted model)");
  Expected<std::unique_ptr<EngineModel>> engine = EngineModel::open(model);
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<ModelBackend>(std::move(*engine));
}

}  // namespace m1::agents
