/* io_fault.c - short reads and short / refused writes on demand, for the
 * tests that check that framing never depends on how the kernel splits a
 * byte stream. Off by default: one well-predicted branch per read or
 * write. Tests link the static library and set ws101__faults. */
#include "io/conn.h"

ws101__io_faults ws101__faults;

size_t ws101__read_size(size_t want) {
  if (ws101__faults.read_max != 0 && ws101__faults.read_max < want)
    return ws101__faults.read_max;
  return want;
}

/* Every other call pretends the kernel is full; the others write at most
 * write_max bytes. The rest then waits for UV_WRITABLE, as it would for a
 * real slow peer. */
int ws101__try_write(int fd, const uv_buf_t *bufs, unsigned n) {
  uv_buf_t one;
  if (ws101__faults.write_max == 0) return ws101__sock_send(fd, bufs, n);
  if (ws101__faults.counter++ % 2 == 0) return UV_EAGAIN;
  while (n > 0 && bufs[0].len == 0) {
    bufs++;
    n--;
  }
  if (n == 0) return 0;
  one = uv_buf_init(bufs[0].base, (unsigned)(bufs[0].len < ws101__faults.write_max
                                                 ? bufs[0].len
                                                 : ws101__faults.write_max));
  return ws101__sock_send(fd, &one, 1);
}
