"""icaa.common: what the pipeline, the annotation round trip and the model share.

Modules: ``errors`` (:class:`~icaa.common.errors.IcaaError`, the one exception for expected failures),
``files`` (atomic writes, output modes that follow the umask, paths kept inside a root) and ``cli`` (the
plain help, error printing and runner both console scripts use). Nothing here imports pandas, numpy or torch,
so either CLI's ``--help`` stays fast.
"""

__all__ = ["cli", "errors", "files"]
