#pragma once
/// Umbrella header for the C++ API.
#include "cairn/array.h"
#include "cairn/backend.h"
#include "cairn/checkpointer.h"
#include "cairn/communicator.h"
#include "cairn/dtype.h"
#include "cairn/metadata.h"
#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/tree.h"
