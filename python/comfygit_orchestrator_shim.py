#!/usr/bin/env python3
"""Lets ComfyGit Manager's panel start marshal instead of its Python orchestrator.

The panel's lazy spawn (``spawn_orchestrator()`` in ComfyGit Manager's
``server/api/v2/environments.py``) runs, detached, with its output appended to
``.metadata/orchestrator.log``::

    <manager>/server/.orchestrator_venv/bin/python <manager>/server/orchestrator.py \\
        --workspace W --environment E --args <ComfyUI args...>

Install this file as that interpreter (keep the real one as ``python.real`` next to it)::

    cd <manager>/server/.orchestrator_venv/bin
    mv python python.real
    cp <marshal-kit>/python/comfygit_orchestrator_shim.py python && chmod +x python

An ``orchestrator.py`` call then becomes ``marshal supervise --log-file
W/.metadata/orchestrator.log --workspace W --environment E --args ...`` (marshal accepts that argv
as it is; ``--log-file`` keeps the log rotated by size), by exec: same pid, same session, same log file,
so the panel's view of "the orchestrator" is marshal. Every other use of the interpreter (the
panel checking or repairing its venv) is passed to the real one unchanged.

Where marshal is: ``$MARSHAL_BIN`` (a path), else ``marshal`` on PATH. The real interpreter:
``$MARSHAL_SHIM_PYTHON``, else ``python.real`` next to this file, else the Python running it.
Standard library only; no shell.
"""
import os
import shutil
import sys


def is_orchestrator_call(argv):
    return len(argv) >= 2 and os.path.basename(argv[1]) == "orchestrator.py" and "--workspace" in argv[2:]


def marshal_program():
    configured = os.environ.get("MARSHAL_BIN")
    if configured:
        return configured
    return shutil.which("marshal")


def real_python():
    configured = os.environ.get("MARSHAL_SHIM_PYTHON")
    if configured:
        return configured
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    candidate = os.path.join(here, "python.real")
    if os.access(candidate, os.X_OK):
        return candidate
    return sys.executable


def workspace_of(args):
    """The value of --workspace among the options (before --args)."""
    for i, arg in enumerate(args):
        if arg == "--args":
            return None
        if arg == "--workspace" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--workspace="):
            return arg[len("--workspace="):]
    return None


def main(argv):
    if is_orchestrator_call(argv):
        marshal = marshal_program()
        if not marshal:
            sys.stderr.write(
                "comfygit_orchestrator_shim: marshal not found (set MARSHAL_BIN or put marshal on PATH)\n"
            )
            return 127
        options = []
        workspace = workspace_of(argv[2:])
        if workspace:
            # The panel appends our output to orchestrator.log; marshal writes it rotated instead.
            options.append("--log-file=" + os.path.join(workspace, ".metadata", "orchestrator.log"))
        sys.stdout.flush()
        os.execv(marshal, [marshal, "supervise"] + options + argv[2:])
    python = real_python()
    os.execv(python, [python] + argv[1:])
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
