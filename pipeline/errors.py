from icaa.common.errors import IcaaError  # noqa: F401
