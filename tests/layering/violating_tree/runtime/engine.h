// Fixture for the layering check: an allowed downward include.
#pragma once
#include "model/forward.h"
