"""qmvc's own records: `line` (qmvc.log, one line per message), `rep` (qmvc.rep, one entry
per badmail or virus), `analysis` (the Virulator: what the log says over time).

`line`, `rep` and `escape` use the stdlib only: they run for every delivery.
"""
