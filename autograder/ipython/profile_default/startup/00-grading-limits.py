# Loaded by every grading kernel (the instructor commands set IPYTHONDIR to this folder's
# grandparent). It caps the kernel's memory so that a submission that exhausts memory
# gets a MemoryError in its own cell instead of taking the machine down.
import os as _os
import resource as _resource

_mib = int(_os.environ.get("COURSE_KERNEL_MEMORY_MIB", "0") or 0)
if _mib > 0:
    _limit = _mib * 1024 * 1024
    _resource.setrlimit(_resource.RLIMIT_DATA, (_limit, _limit))
del _os, _resource, _mib
