/* TCP listening sockets, shared by the servers (eccp, agi) that accept connections. */
#ifndef CCD_CORE_NET_H
#define CCD_CORE_NET_H

#include <stddef.h>
#include <stdint.h>

/*
 * Opens a non-blocking, close-on-exec TCP socket listening on bind_addr (an IPv4 or IPv6
 * literal) and port (0: the kernel picks one); *bound gets the port actually bound.
 * Returns the fd, or -1 with a message starting with who (e.g. "eccp") in err.
 */
int net_tcp_listen(const char *who, const char *bind_addr, uint16_t port, uint16_t *bound,
                   char *err, size_t errlen);

#endif
