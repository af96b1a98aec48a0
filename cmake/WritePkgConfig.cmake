# Runs at install time (install(CODE) in the top-level CMakeLists.txt):
# writes the pkg-config modules for the prefix being installed to, which
# `cmake --install BUILD --prefix DIR` may change after configuration.
#
#   libws101.pc, ws101.pc                 from pkgconfig/libws101.pc.in: the
#                                         shared library (--static adds the
#                                         dependencies for linking libws101.a
#                                         by hand); two names, one content
#   libws101-static.pc, ws101-static.pc   from pkgconfig/ws101-static.pc.in:
#                                         links libws101.a by its path, so
#                                         the shared library cannot win
#
# In: WS101_PC_SRC, WS101_PC_DIR, WS101_LIBDIR, WS101_INCLUDEDIR,
#     PROJECT_VERSION, and CMAKE_INSTALL_PREFIX (set by cmake --install).
set(WS101_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(_kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${WS101_${_kind}}")
    set(WS101_PC_${_kind} "${WS101_${_kind}}")
  else()
    set(WS101_PC_${_kind} "\${prefix}/${WS101_${_kind}}")
  endif()
endforeach()
foreach(WS101_PC_NAME libws101 ws101)
  configure_file("${WS101_PC_SRC}/libws101.pc.in"
    "${WS101_PC_DIR}/${WS101_PC_NAME}.pc" @ONLY)
  configure_file("${WS101_PC_SRC}/ws101-static.pc.in"
    "${WS101_PC_DIR}/${WS101_PC_NAME}-static.pc" @ONLY)
endforeach()
