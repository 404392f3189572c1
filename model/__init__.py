"""icaa.model: the Delegate Transformer (DeT) and its training CLI ``icaa-train``."""

__all__: list[str] = []
