# Every external dependency is a Debian package (scripts/setup.sh installs them); nothing is
# downloaded or vendored at build time. The engine-only build (M1_ENGINE_ONLY) needs only the
# engine's dependencies, because the GPU machine lacks libseccomp and SQLite headers.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)

# CLI11 ships a CMake config on Debian 12; fall back to the bare header.
find_package(CLI11 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()

pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# OpenBLAS: the CPU GEMMs. Debian's pkg-config name is "openblas"; BLAS_LIBRARIES as fallback.
pkg_check_modules(OPENBLAS IMPORTED_TARGET openblas)
if(NOT OPENBLAS_FOUND)
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
  add_library(PkgConfig::OPENBLAS INTERFACE IMPORTED)
  target_link_libraries(PkgConfig::OPENBLAS INTERFACE ${BLAS_LIBRARIES})
endif()

find_package(benchmark QUIET)

if(NOT M1_ENGINE_ONLY)
  find_package(Boost 1.74 REQUIRED)
  pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
  pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
  pkg_check_modules(LIBEDIT REQUIRED IMPORTED_TARGET libedit)
endif()
