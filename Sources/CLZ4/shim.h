// Exactly what Swift needs from liblz4 1.9: the block API and the frame API.
#ifndef CRUCIBLE_CLZ4_SHIM_H
#define CRUCIBLE_CLZ4_SHIM_H
#include <lz4.h>
#include <lz4frame.h>
#endif
