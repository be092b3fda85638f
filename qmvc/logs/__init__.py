"""qmvc's own records: `line` (qmvc.log, one line per message), `rep` (qmvc.rep, one entry
per badmail or virus), `reading` (rotated, gzip and multilog files); `qmvc.report`, the
Virulator, is built on them.

`line`, `rep` and `escape` use the stdlib only: they run for every delivery.
"""
