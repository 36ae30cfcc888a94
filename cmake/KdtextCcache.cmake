# ccache with the settings precompiled headers need (sloppiness for the PCH's
# timestamps and defines). Only the launcher is set; no global compile flags.
if(KDTEXT_USE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(KDTEXT_CCACHE_PROGRAM ccache)
  if(KDTEXT_CCACHE_PROGRAM)
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        "CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}"
        ${KDTEXT_CCACHE_PROGRAM})
    message(STATUS "kdtext: compiling through ccache (${KDTEXT_CCACHE_PROGRAM})")
  endif()
endif()
