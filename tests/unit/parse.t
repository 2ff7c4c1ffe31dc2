#!/bin/bash
# ctlua.parse cases (parse.lua), formatted back by ct.format inside ctlua.
. "$(dirname "$0")/../lib/tap.sh"
tap_include parse.lua "$("$CTLUA" --netlink-file /dev/null "$TOP/tests/unit/parse.lua" 2>&1)"
done_testing
