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

# One interface target so every kdtext target links LibTorch the same way: its
# CPU half only (torch_cpu, c10). The CUDA half (libtorch_cuda.so and the CUDA
# libraries it pulls in) is loaded at run time when a GPU is asked for or found
# (cli/runtime.h), so CPU runs start without mapping it.
if(NOT TARGET kdtext::torch)
  find_library(KDTEXT_TORCH_CPU_LIBRARY torch_cpu PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH REQUIRED)
  find_library(KDTEXT_C10_LIBRARY c10 PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH REQUIRED)
  add_library(kdtext_torch INTERFACE)
  target_link_libraries(kdtext_torch INTERFACE ${KDTEXT_TORCH_CPU_LIBRARY} ${KDTEXT_C10_LIBRARY} ${CMAKE_DL_LIBS})
  target_include_directories(kdtext_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  separate_arguments(KDTEXT_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(kdtext_torch INTERFACE ${KDTEXT_TORCH_CXX_FLAGS})
  set_target_properties(kdtext_torch PROPERTIES EXPORT_NAME torch)  # kdtext::torch in the installed package
  add_library(kdtext::torch ALIAS kdtext_torch)
endif()
