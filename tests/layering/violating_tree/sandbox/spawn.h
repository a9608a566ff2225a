// Fixture for the layering check: sandbox/ including tools/ must be reported.
#pragma once
#include "tools/tool.h"
