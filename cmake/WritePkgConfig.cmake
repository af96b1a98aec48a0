# Runs at install time (install(CODE) in the top-level CMakeLists.txt):
# writes libws101.pc for the prefix being installed to, which
# `cmake --install BUILD --prefix DIR` may change after configuration.
#
# In: WS101_PC_IN, WS101_PC_OUT, WS101_LIBDIR, WS101_INCLUDEDIR,
#     PROJECT_VERSION, and CMAKE_INSTALL_PREFIX (set by cmake --install).
set(WS101_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(_kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${WS101_${_kind}}")
    set(WS101_PC_${_kind} "${WS101_${_kind}}")
  else()
    set(WS101_PC_${_kind} "\${prefix}/${WS101_${_kind}}")
  endif()
endforeach()
configure_file("${WS101_PC_IN}" "${WS101_PC_OUT}" @ONLY)
