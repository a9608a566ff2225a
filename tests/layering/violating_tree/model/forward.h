// Fixture for the layering check: model/ including runtime/ must be reported.
#pragma once
#include "runtime/engine.h"
