"""The ETA of the live display: time left to the target, from the measured rate of kept
records, smoothed so that it counts down steadily instead of jumping with each round.

Records count as kept when their whole round has passed every stage, so the count rises
in steps, and the first step comes only after the first round has gone through the whole
chain. The ETA therefore says:

* ``measuring`` until the first record is kept (there is no rate yet);
* then the time that the rate measured at the latest step (kept records over the seconds
  to that step) needs for the records still missing. Between steps that finish time
  stands still, so the ETA counts down; once the next step is overdue (longer since the
  last one than the mean time between steps) the rate is taken as falling, and the ETA
  grows with the wait, as a stalled run's should. A new finish time is followed over
  ``TAU`` seconds, not at once. Shown in whole minutes rounded up (``<1m`` under one);
* ``finishing`` once the target's records are kept but work is still in flight (the
  records first in order may still be on their way): never ``0s`` while work is left;
* ``done`` when nothing is left; ``-`` for a run without a target.
"""

from __future__ import annotations

import math

TAU = 30.0  # seconds: how fast the shown finish time follows a new estimate


class Eta:
    """Call with the counts and the seconds since the start, at any pace; one instance per
    run (it remembers the steps it saw and the finish time it showed)."""

    def __init__(self, tau: float = TAU):
        self.tau = tau
        self.steps = 0  # how often the kept count rose
        self.kept = 0  # the count at the latest step
        self.last = 0.0  # when that step was seen, in run seconds
        self._finish: float | None = None  # the smoothed finish time, in run seconds
        self._at = 0.0  # when it was last moved

    def __call__(self, kept: int, target: int | None, in_flight: int, elapsed: float) -> str:
        if kept > self.kept:
            self.steps, self.kept, self.last = self.steps + 1, kept, elapsed
        if target is None:
            return "-"
        if kept >= target:
            return "finishing" if in_flight > 0 else "done"
        if kept <= 0 or self.steps == 0:
            return "measuring"
        between = self.last / self.steps  # the mean time from one step to the next
        upto = max(self.last, elapsed - between)  # overdue: the rate falls with the wait
        finish = upto + upto / self.kept * (target - self.kept)
        if self._finish is None:
            self._finish = finish
        elif elapsed > self._at:
            share = 1.0 - math.exp(-(elapsed - self._at) / self.tau)
            self._finish += share * (finish - self._finish)
        self._at = max(self._at, elapsed)
        return duration(self._finish - elapsed)


def duration(seconds: float) -> str:
    """Time left in whole minutes, rounded up (``<1m`` under a minute: never ``0s``),
    hours and minutes from an hour."""
    if seconds < 60:
        return "<1m"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


__all__ = ["Eta", "duration"]
