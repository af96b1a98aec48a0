/* version.c - the version of the library actually loaded. */
#include "ws101.h"

#define WS101__STR2(x) #x
#define WS101__STR(x) WS101__STR2(x)

unsigned ws101_version(void) { return WS101_VERSION_HEX; }

const char *ws101_version_string(void) {
  return WS101__STR(WS101_VERSION_MAJOR) "." WS101__STR(
      WS101_VERSION_MINOR) "." WS101__STR(WS101_VERSION_PATCH);
}
