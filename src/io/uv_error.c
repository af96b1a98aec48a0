/* uv_error.c - libuv error numbers to the stable WS101_E* codes. */
#include "io/loop.h"

#include <uv.h>

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
