# Third-party dependencies. LibTorch comes from Torch_DIR / CMAKE_PREFIX_PATH
# (scripts/setup.sh points it at the PyPI torch wheel's cmake prefix).
find_package(Torch REQUIRED)
message(STATUS "kdtext: LibTorch ${Torch_VERSION} from ${Torch_DIR}")

find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
find_package(ICU REQUIRED COMPONENTS uc)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)
if(KDTEXT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# TORCH_LIBRARIES is a plain list; wrap it in one imported target so every
# kdtext target links the same way.
if(NOT TARGET kdtext::torch)
  add_library(kdtext_torch INTERFACE)
  target_link_libraries(kdtext_torch INTERFACE ${TORCH_LIBRARIES})
  target_include_directories(kdtext_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  add_library(kdtext::torch ALIAS kdtext_torch)
endif()
