#!/bin/bash
# ct.format on hand-built tables (format.lua), run inside ctlua.
. "$(dirname "$0")/../lib/tap.sh"
tap_include format.lua "$("$CTLUA" --netlink-file /dev/null "$TOP/tests/unit/format.lua" 2>&1)"
done_testing
