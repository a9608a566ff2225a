# Fails when a source file includes a header from a layer above its own (DESIGN.md, "Layers").
# Usage: cmake -DROOT=<source tree> -P check_layers.cmake
# Project headers are included from the tree root ("model/config.h"), so the first path component
# of an include names its layer.
if(NOT ROOT)
  message(FATAL_ERROR "check_layers: pass -DROOT=<source tree>")
endif()

# Which layers each layer may include (itself included).
set(allowed_common  common)
set(allowed_kernels common kernels)
set(allowed_model   common kernels model)
set(allowed_runtime common kernels model runtime)
set(allowed_sandbox common sandbox)
set(allowed_tools   common sandbox tools)
set(allowed_agents  common kernels model runtime sandbox tools agents)
set(layers common kernels model runtime sandbox tools agents)

set(violations "")
foreach(layer IN LISTS layers)
  file(GLOB_RECURSE sources LIST_DIRECTORIES false
       "${ROOT}/${layer}/*.h" "${ROOT}/${layer}/*.hpp" "${ROOT}/${layer}/*.cpp"
       "${ROOT}/${layer}/*.cc" "${ROOT}/${layer}/*.cu" "${ROOT}/${layer}/*.cuh")
  foreach(source IN LISTS sources)
    file(STRINGS "${source}" include_lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS include_lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" header "${line}")
      string(REGEX MATCH "^[^/]+/" top "${header}")
      string(REPLACE "/" "" top "${top}")
      if(top STREQUAL "")
        continue()  # same-folder include
      endif()
      list(FIND layers "${top}" is_layer)
      if(is_layer EQUAL -1)
        continue()  # not a project layer (e.g. a subfolder of the same layer)
      endif()
      list(FIND allowed_${layer} "${top}" ok)
      if(ok EQUAL -1)
        file(RELATIVE_PATH rel "${ROOT}" "${source}")
        string(APPEND violations "  ${rel}: ${layer}/ may not include ${header} (layer ${top})\n")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "layering violations (lower layers never include higher ones):\n${violations}")
endif()
message(STATUS "layering: no violations under ${ROOT}")
