/* errors.c - ws101_strerror / ws101_err_name from the one error table. */
#include "ws101.h"

const char *ws101_strerror(int err) {
  switch (err) {
#define WS101__ERR_MSG(name, val, msg)                                     \
  case WS101_##name:                                                       \
    return msg;
    WS101_ERRNO_MAP(WS101__ERR_MSG)
#undef WS101__ERR_MSG
  case 0:
    return "success";
  default:
    return "unknown error";
  }
}

const char *ws101_err_name(int err) {
  switch (err) {
#define WS101__ERR_NAME(name, val, msg)                                    \
  case WS101_##name:                                                       \
    return "WS101_" #name;
    WS101_ERRNO_MAP(WS101__ERR_NAME)
#undef WS101__ERR_NAME
  case 0:
    return "WS101_OK";
  default:
    return "WS101_UNKNOWN";
  }
}
