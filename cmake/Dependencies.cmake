# Every external dependency is a Debian package (scripts/setup.sh installs them); nothing is
# downloaded or vendored at build time. The engine-only build (M1_ENGINE_ONLY) needs only the
# engine's dependencies, because the GPU machine lacks libseccomp and SQLite headers (there,
# scripts/gpu_check.sh unpacks the Debian packages it needs into a private prefix).
find_package(PkgConfig QUIET)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)

# m1_find_system_library(<target> PC <pkg-config name> HEADER <header> NAMES <lib names>
#                        [HEADER_SUFFIXES <dirs>] [LIB_SUFFIXES <dirs>])
# Defines the imported target <target> from pkg-config, or, where pkg-config is absent, from a
# plain header + library search (CMAKE_PREFIX_PATH applies to both).
function(m1_find_system_library target)
  cmake_parse_arguments(ARG "" "PC;HEADER" "NAMES;HEADER_SUFFIXES;LIB_SUFFIXES" ${ARGN})
  if(PkgConfig_FOUND)
    pkg_check_modules(${target}_PC QUIET IMPORTED_TARGET GLOBAL ${ARG_PC})
    if(${target}_PC_FOUND)
      add_library(${target} ALIAS PkgConfig::${target}_PC)
      return()
    endif()
  endif()
  find_path(${target}_INCLUDE_DIR ${ARG_HEADER} PATH_SUFFIXES ${ARG_HEADER_SUFFIXES})
  find_library(${target}_LIBRARY NAMES ${ARG_NAMES} PATH_SUFFIXES ${ARG_LIB_SUFFIXES})
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "m1: ${ARG_PC} not found (header ${ARG_HEADER}, library ${ARG_NAMES}); "
                        "run scripts/setup.sh")
  endif()
  add_library(${target} INTERFACE IMPORTED GLOBAL)
  target_include_directories(${target} INTERFACE ${${target}_INCLUDE_DIR})
  target_link_libraries(${target} INTERFACE ${${target}_LIBRARY})
endfunction()

# CLI11 is header-only; Debian 12 ships no CMake config for it.
find_package(CLI11 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()

m1_find_system_library(m1_pcre2 PC libpcre2-8 HEADER pcre2.h NAMES pcre2-8)
m1_find_system_library(m1_openblas PC openblas HEADER cblas.h NAMES openblas
  HEADER_SUFFIXES include/x86_64-linux-gnu/openblas-pthread include/openblas
  LIB_SUFFIXES lib/x86_64-linux-gnu/openblas-pthread)

find_package(benchmark QUIET)

# SQLite indexes the engine's on-disk state cache, so the engine-only build needs it too
# (scripts/fetch_gpu_deps.sh brings it to the GPU machine).
m1_find_system_library(m1_sqlite3 PC sqlite3 HEADER sqlite3.h NAMES sqlite3)

if(NOT M1_ENGINE_ONLY)
  find_package(Boost 1.74 REQUIRED)
  m1_find_system_library(m1_seccomp PC libseccomp HEADER seccomp.h NAMES seccomp)
  m1_find_system_library(m1_libedit PC libedit HEADER histedit.h NAMES edit)
endif()
