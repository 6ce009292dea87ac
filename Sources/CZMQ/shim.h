// Exactly what Swift needs from libzmq 4.3 (stable API, no draft sockets).
#ifndef CRUCIBLE_CZMQ_SHIM_H
#define CRUCIBLE_CZMQ_SHIM_H
#include <zmq.h>
#endif
