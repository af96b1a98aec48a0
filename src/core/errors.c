/* errors.c - ws101_strerror / ws101_err_name from the one error table. */
#include "ws101.h"

#include <uv.h>

#include "io/loop.h"

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

/* libuv reports negated errno values; callers of ws101 get the stable
 * WS101_E* numbers instead, so the ABI does not depend on the platform. */
int ws101__uv_err(int uverr) {
  switch (uverr) {
  case 0:
    return 0;
  case UV_EINVAL:
    return WS101_EINVAL;
  case UV_ENOMEM:
  case UV_ENOBUFS:
    return WS101_ENOMEM;
  case UV_EADDRINUSE:
  case UV_EACCES:
    return WS101_EADDRINUSE;
  case UV_EADDRNOTAVAIL:
  case UV_EAFNOSUPPORT:
    return WS101_EADDRNOTAVAIL;
  case UV_ECONNREFUSED:
    return WS101_ECONNREFUSED;
  case UV_ECONNRESET:
  case UV_EPIPE:
  case UV_ECONNABORTED:
    return WS101_ECONNRESET;
  case UV_ETIMEDOUT:
    return WS101_ETIMEDOUT;
  case UV_EOF:
    return WS101_EEOF;
  case UV_ECANCELED:
    return WS101_ECANCELED;
  case UV_EAI_NONAME:
  case UV_EAI_AGAIN:
  case UV_EAI_FAIL:
  case UV_EAI_NODATA:
  case UV_EAI_SERVICE:
  case UV_EAI_ADDRFAMILY:
    return WS101_EDNS;
  case UV_ENOTSUP:
    return WS101_ENOTSUP;
  default:
    return WS101_EIO;
  }
}
