# Sanitizer and fuzzing instrumentation, applied to every target of the build
# so that the library, its tests and the executables agree on the runtime.
#
#   WS101_SANITIZE=ON  -fsanitize=address,undefined -fno-omit-frame-pointer
#   WS101_FUZZ=ON      clang only: everything is compiled with
#                      -fsanitize=fuzzer-no-link,address; fuzz/ adds
#                      -fsanitize=fuzzer,address to the fuzz_* executables.
#
# Both set WS101_SANITIZER_FLAGS, which the install test passes on to the
# programs it compiles against the installed library.
set(WS101_SANITIZER_FLAGS "")

if(WS101_SANITIZE)
  list(APPEND WS101_SANITIZER_FLAGS
    -fsanitize=address,undefined -fno-omit-frame-pointer)
endif()

if(WS101_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "WS101_FUZZ needs clang (libFuzzer); configure with -DCMAKE_C_COMPILER=clang")
  endif()
  if(WS101_SANITIZE)
    # UBSan on top of the fuzzers' ASan; both are compiled in once.
    list(APPEND WS101_SANITIZER_FLAGS -fsanitize=fuzzer-no-link)
  else()
    list(APPEND WS101_SANITIZER_FLAGS
      -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
  endif()
endif()

if(WS101_SANITIZER_FLAGS)
  add_compile_options(${WS101_SANITIZER_FLAGS})
  # The linker only needs the runtimes (fuzzer-no-link links nothing).
  set(_ws101_link_flags ${WS101_SANITIZER_FLAGS})
  list(REMOVE_ITEM _ws101_link_flags -fsanitize=fuzzer-no-link)
  list(TRANSFORM _ws101_link_flags REPLACE
    "^-fsanitize=fuzzer-no-link,address$" "-fsanitize=address")
  add_link_options(${_ws101_link_flags})
  message(STATUS "ws101: instrumentation: ${WS101_SANITIZER_FLAGS}")
endif()
