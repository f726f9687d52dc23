/* Brindle plugin ABI: everything. Plugins may include only the kind they implement. */
#ifndef BRINDLE_BRINDLE_H
#define BRINDLE_BRINDLE_H
#include "brindle/abi.h"
#include "brindle/datastore.h"
#include "brindle/encap.h"
#include "brindle/policy.h"
#include "brindle/routing.h"
#endif /* BRINDLE_BRINDLE_H */
