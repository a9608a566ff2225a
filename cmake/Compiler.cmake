# Compiler settings shared by every target: C++20, warnings, ccache, optional sanitizers.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

find_program(M1_CCACHE ccache)
if(M1_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${M1_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${M1_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${M1_CCACHE})
endif()

add_compile_options($<$<COMPILE_LANGUAGE:CXX,C>:-Wall> $<$<COMPILE_LANGUAGE:CXX,C>:-Wextra>)

set(M1_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined (empty = none)")
if(M1_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX,C>:-fsanitize=${M1_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:CXX,C>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=${M1_SANITIZE})
endif()
